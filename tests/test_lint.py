"""The lint/preflight view as a whole: the rule registry, reading SQL, shopmig's own SQL (only
the honest findings), the lock-time estimate, ``lint_plan`` on each backend (runs nothing, works
on a table not adopted yet, shows a danger before anything runs), and the ``shopmig lint``
command's exit codes and JSON. Each rule's own tests are in ``test_lint_rule_<name>.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import digest, execute
from test_architecture import database_name_comparisons

import shopmig
from shopmig import lint
from shopmig.cli import main
from shopmig.dialects import DIALECTS, dialect_class
from shopmig.errors import InvalidArgumentError
from shopmig.lint import (
    METADATA_LOCK_S,
    RULES,
    STEP_COLUMNS,
    Finding,
    LintReport,
    lint_plan,
    lint_sql,
)
from shopmig.lint.rules import REGISTRY, SEVERITIES
from shopmig.lint.sql import parse, split
from shopmig.migrate.steps import MigrationOptions, step_impact

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden"


def rules(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in findings]


# ------------------------------------------------------------------ the registry


def test_the_public_names_stay_importable() -> None:
    assert shopmig.lint_sql is lint_sql and shopmig.lint_plan is lint_plan
    assert shopmig.Finding is Finding and shopmig.LintReport is LintReport
    assert STEP_COLUMNS == ["revision", "summary", "lock", "blocks_writes", "rewrites_table",
                            "scans_table", "expected_lock_s", "findings"]
    assert RULES == ("volatile-default", "not-null-without-check", "index-not-concurrent",
                     "check-not-valid", "table-rewrite", "no-lock-timeout", "step-refused")


def test_every_rule_is_one_described_object_with_its_own_tests() -> None:
    assert tuple(r.name for r in REGISTRY) == RULES
    for rule in REGISTRY:
        assert rule.severity in SEVERITIES
        assert all(rule.describe().values()), rule
        assert rule.__doc__ and type(rule).__module__.endswith(rule.name.replace("-", "_"))
        assert (TESTS / f"test_lint_rule_{rule.name.replace('-', '_')}.py").exists(), rule
        assert any(rule.applies_to(cls()) for cls in DIALECTS), rule


def test_the_rules_table_says_where_each_rule_applies() -> None:
    frame = lint.rules_frame()
    assert frame["name"].tolist() == list(RULES)
    assert list(frame.columns[-3:]) == [cls.label for cls in DIALECTS]
    by_name = frame.set_index("name")
    assert by_name.loc["check-not-valid", ["SQLite", "PostgreSQL", "MariaDB/MySQL"]].tolist() \
        == [False, True, False]
    assert by_name.loc["no-lock-timeout", "SQLite"] == False  # noqa: E712 - numpy bool


def test_lint_names_no_database_outside_the_dialects() -> None:
    offenders = {str(p): database_name_comparisons(p.read_text())
                 for p in sorted((TESTS.parent / "shopmig" / "lint").rglob("*.py"))}
    assert {p: hits for p, hits in offenders.items() if hits} == {}


# ------------------------------------------------------------------ reading SQL


def test_split_keeps_literals_comments_and_quoted_names_apart() -> None:
    sql = ('ALTER TABLE "public"."Orders" ADD CONSTRAINT "ck" CHECK ("note" <> \'a;b\'); '
           "-- UPDATE orders SET x = 1;\n"
           "/* DROP TABLE orders; */ UPDATE `orders` SET `x` = 'it''s; \\' fine' WHERE id = 1")
    statements = list(split(sql))
    assert [s.text for s in statements] == [
        'ALTER TABLE "public"."Orders" ADD CONSTRAINT "ck" CHECK ("note" <> \'a;b\')',
        "UPDATE `orders` SET `x` = 'it''s; \\' fine' WHERE id = 1"]
    assert statements[1].code == "UPDATE `orders` SET `x` = '' WHERE id = 1"
    first = parse(statements[0])
    assert (first.kind, first.table, [a.kind for a in first.actions]) == (
        "alter_table", "orders", ["add_check"])
    assert list(split("  ;\n-- nothing\n; ")) == []


def test_parse_tells_the_shapes_the_rules_read() -> None:
    shapes = {sql: parse(next(split(sql))) for sql in (
        "SET STATEMENT lock_wait_timeout=2 FOR ALTER TABLE orders DROP COLUMN a, ALGORITHM=COPY",
        "CREATE INDEX ix ON orders (status) ALGORITHM=INPLACE LOCK=NONE",
        "INSERT INTO t2 (a) SELECT a FROM orders",
        "set local lock_timeout to 2000",
    )}
    wrapped, index, copy, setting = shapes.values()
    assert (wrapped.kind, wrapped.statement_vars, wrapped.algorithm, wrapped.locks) == (
        "alter_table", ("lock_wait_timeout",), "COPY", "orders")
    assert [a.kind for a in wrapped.actions] == ["drop_column", "option"]
    assert (index.kind, index.algorithm, index.lock) == ("create_index", "INPLACE", "NONE")
    assert copy.extra == {"new": "t2", "old": "orders"}
    assert setting.extra == {"variable": "lock_timeout", "value": "2000"}


@pytest.mark.parametrize("cls", DIALECTS, ids=lambda c: c.name)
def test_lint_sql_accepts_every_name_and_alias_of_a_database(cls) -> None:
    sql = ("ALTER TABLE orders ADD COLUMN r REAL DEFAULT (random()); "
           "CREATE INDEX ix ON orders (r); ALTER TABLE orders DROP COLUMN r")
    expected = lint_sql(sql, cls.name, rows=10)
    assert expected  # every database finds something here
    for alias in {*cls.aliases, cls.name.upper(), f" {cls.name} "}:
        assert dialect_class(alias) is cls
        assert lint_sql(sql, alias, rows=10) == expected, alias
    assert lint_sql(sql, cls(), rows=10) == expected  # a Dialect object too


def test_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="dialect"):
        lint_sql("SELECT 1", "oracle")
    with pytest.raises(InvalidArgumentError, match="dialect"):
        lint_sql("SELECT 1", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="rows"):
        lint_sql("SELECT 1", "sqlite", rows=-1)
    assert lint_sql("", "postgresql") == []


# ------------------------------------------------------------------ shopmig's own SQL

# The only findings on the SQL shopmig runs (tests/golden: each step, each way, each
# database): a copy where the database has no cheaper way. Honest warnings, never a danger.
HONEST = {
    ("sqlite", "0002_add_status.down"): [("table-rewrite", "warning")],  # DROP COLUMN
    ("mysql", "0003_status_check.up"): [("table-rewrite", "warning")],  # enforced CHECK
}


def golden() -> list[tuple[str, str, str]]:
    return [(folder.name, path.name.removesuffix(".sql"), path.read_text())
            for folder in sorted(GOLDEN.iterdir()) for path in sorted(folder.glob("*.sql"))]


def test_the_golden_sql_covers_every_step_both_ways_on_every_database() -> None:
    found = {(d, step) for d, step, _ in golden()}
    assert found == {(cls.name, f"{rev}.{way}") for cls in DIALECTS
                     for rev in shopmig.revisions()[1:] for way in ("up", "down")}


@pytest.mark.parametrize(("dialect", "step", "sql"), golden(),
                         ids=[f"{d}-{s}" for d, s, _ in golden()])
def test_shopmig_sql_raises_only_the_honest_findings(dialect: str, step: str, sql: str) -> None:
    found = lint_sql(sql, dialect, rows=500_000, lock_timeout_s=2.0)
    assert rules(found) == HONEST.get((dialect, step), [])


def test_the_sqlite_check_step_is_one_scan_not_a_rebuild() -> None:
    sql = (GOLDEN / "sqlite" / "0003_status_check.up.sql").read_text()
    assert lint_sql(sql, "sqlite", rows=10**6) == []
    impact = step_impact("0003_status_check", "sqlite")
    assert (impact.rewrites_table, impact.scans_table) == (False, True)


def test_shopmig_sql_without_a_lock_timeout_warns_once() -> None:
    for cls in DIALECTS:
        sql = "\n".join(text for d, step, text in golden() if d == cls.name
                        and step.endswith(".up"))
        found = lint_sql(sql, cls.name)
        expected = 1 if cls.is_server else 0
        assert [f.rule for f in found].count("no-lock-timeout") == expected, cls
        assert not any(f.severity == "danger" for f in found)


# ------------------------------------------------------------------ the time model


def test_expected_lock_seconds_comes_from_the_impact() -> None:
    pg, sqlite, maria = (dialect_class(n).lock_rates_s_per_row for n in
                         ("postgresql", "sqlite", "mariadb"))
    sql = "CREATE INDEX CONCURRENTLY ix ON orders (status)"
    index = step_impact("0005_status_index", "postgresql", rows=1_000_000)
    assert lint.expected_lock_seconds(index, sql, 1_000) < lint.expected_lock_seconds(
        index, sql, 1_000_000) == pytest.approx(METADATA_LOCK_S + 1e6 * pg["index"], abs=1e-3)
    assert lint.expected_lock_seconds(index, sql, None) is None
    meta = step_impact("0002_add_status", "postgresql")
    assert lint.expected_lock_seconds(meta, "ALTER TABLE ...", 10**9) == METADATA_LOCK_S
    noop = step_impact("0004_validate_status_check", "mariadb")
    assert lint.expected_lock_seconds(noop, "", 10**9) == 0.0
    assert lint.expected_lock_seconds(noop, "-- nothing to run", 10**9) == 0.0
    copy = step_impact("0003_status_check", "mariadb")
    assert lint.expected_lock_seconds(copy, "ALTER ...", 10**6) == pytest.approx(
        METADATA_LOCK_S + maria["rewrite"] * 1e6, abs=1e-3)
    check = step_impact("0003_status_check", "sqlite")  # one scan, no rebuild
    assert lint.expected_lock_seconds(check, "SELECT ...", 10**6) == pytest.approx(
        METADATA_LOCK_S + sqlite["scan"] * 1e6, abs=1e-3)
    drop = step_impact("0002_add_status", "sqlite", "down")  # DROP COLUMN rewrites
    assert lint.expected_lock_seconds(drop, "ALTER ...", 10**6) == pytest.approx(
        METADATA_LOCK_S + sqlite["rewrite"] * 1e6, abs=1e-3)
    old_pg = step_impact("0002_add_status", "postgresql", server_version=(10, 5))
    assert lint.expected_lock_seconds(old_pg, "ALTER ...", 10**6) == pytest.approx(
        METADATA_LOCK_S + pg["rewrite"] * 1e6, abs=1e-3)


def test_the_basis_names_every_database_and_what_was_measured() -> None:
    basis = lint.estimate_basis()
    for cls in DIALECTS:
        assert cls.label in basis and cls.lock_rates_basis in basis
    assert basis.startswith("Estimate, not a measurement")


# ------------------------------------------------------------------ lint_plan on each backend

UP = {"sqlite": [], "postgresql": [], "mariadb": [("0003_status_check", "table-rewrite",
                                                   "warning")]}
DOWN = {"sqlite": [("0002_add_status", "table-rewrite", "warning")], "postgresql": [],
        "mariadb": []}


def test_lint_plan_on_a_demo_shop_runs_nothing(demo_url: str, backend: str) -> None:
    report = lint_plan(demo_url)
    assert shopmig.current_revision(demo_url) == "0001_baseline"
    assert isinstance(report, LintReport)
    assert list(report.steps.columns) == STEP_COLUMNS
    assert report.steps["revision"].tolist() == shopmig.revisions()[1:]
    assert report.rows == 300 and report.current == "0001_baseline" and report.notes == []
    assert report.lock_timeout_s == MigrationOptions().lock_timeout_s
    assert report.server_version and report.ok and report.server
    assert [(f.revision, f.rule, f.severity) for f in report.findings] == UP[backend]
    for row in report.steps.to_dict(orient="records"):
        assert row["summary"] and row["lock"] and row["blocks_writes"]
        assert 0 <= row["expected_lock_s"] < 1  # 300 rows: milliseconds everywhere
    by_rev = report.steps.set_index("revision")
    assert bool(by_rev.loc["0003_status_check", "rewrites_table"]) == (backend == "mariadb")
    assert bool(by_rev.loc["0005_status_index", "scans_table"])
    assert by_rev.loc["0002_add_status", "expected_lock_s"] == METADATA_LOCK_S

    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is True and len(data["steps"]) == 4
    assert data["counts"] == {"steps": 4, "danger": 0, "warning": len(UP[backend]), "info": 0}
    page = report._repr_html_()
    assert "0005_status_index" in page and "expected_lock_s" in page
    assert ("background:#fff8c5" in page) == bool(UP[backend])
    assert str(report).startswith("OK: 4 step(s) from 0001_baseline to head")
    assert "Estimate" in str(report)


def test_lint_plan_of_the_whole_downgrade(demo_url: str, backend: str) -> None:
    shopmig.upgrade(demo_url, "head")
    report = lint_plan(demo_url, "base", direction="down")
    assert shopmig.current_revision(demo_url) == "0005_status_index"
    assert report.steps["revision"].tolist() == shopmig.revisions()[1:][::-1]
    assert [(f.revision, f.rule, f.severity) for f in report.findings] == DOWN[backend]
    assert report.ok


def test_lint_plan_at_head_has_no_steps(demo_url: str) -> None:
    shopmig.upgrade(demo_url, "head", options=MigrationOptions(allow_table_rewrite=True))
    report = lint_plan(demo_url)
    assert report.ok and len(report.steps) == 0 and report.findings == []
    assert report.expected_lock_s == 0.0
    assert list(report.steps.columns) == STEP_COLUMNS


def test_lint_plan_on_a_live_connection_and_a_downgrade() -> None:
    with shopmig.connect("sqlite://") as conn:
        shopmig.make_demo_shop(conn, rows=50)
        one = lint_plan(conn, "+1")
        assert one.steps["revision"].tolist() == ["0002_add_status"]
        shopmig.upgrade(conn, "head")
        down = lint_plan(conn, "base", direction="down")
        assert down.steps["revision"].tolist() == shopmig.revisions()[1:][::-1]
        assert shopmig.current_revision(conn) == "0005_status_index"
        assert [(f.revision, f.rule) for f in down.findings] == [
            ("0002_add_status", "table-rewrite")]
        by_rev = down.steps.set_index("revision")
        assert bool(by_rev.loc["0002_add_status", "rewrites_table"])  # DROP COLUMN
        assert not by_rev.loc["0003_status_check", ["rewrites_table", "scans_table"]].any()


def test_lint_plan_of_a_table_not_adopted_yet_is_read_only(tmp_path) -> None:
    path = tmp_path / "plain.db"
    url = f"sqlite:///{path}"
    execute(url, "CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount REAL)",
            "INSERT INTO orders VALUES ('a', 1.5), ('b', 2.5)", must_exist=False)
    before = digest(path)
    report = lint_plan(url)
    assert digest(path) == before  # not a byte written: no version table, no meta table
    assert report.current is None and report.rows == 2
    assert report.steps["revision"].tolist() == shopmig.revisions()[1:]
    assert report.ok and report.findings == []
    assert len(report.notes) == 1 and "not adopted yet" in report.notes[0]
    assert "from not adopted (planned from the baseline) to head" in report.summary()
    assert "not adopted yet" in str(report) and "not adopted yet" in report._repr_html_()
    assert report.to_dict()["notes"] == report.notes


def test_lint_plan_names_another_table_and_column(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    execute(url, 'CREATE TABLE "Purchases" (id INTEGER PRIMARY KEY, status TEXT)',
            must_exist=False)
    report = lint_plan(url, table="Purchases", column="state")
    assert report.ok and report.rows == 0
    assert "Purchases" in report.notes[0]
    assert "state" in report.steps.iloc[0]["summary"]


@pytest.mark.server
def test_lint_plan_inside_an_open_transaction_shows_the_blocking_index(make_url) -> None:
    """On PostgreSQL a step that joins the caller's transaction cannot build its index
    CONCURRENTLY: lint says the plain build blocks writes (a danger), before anything runs."""
    url = make_url("postgresql")
    shopmig.create_database(url)
    shopmig.make_demo_shop(url, rows=30)
    shopmig.upgrade(url, "0004")
    with shopmig.connect(url) as conn:
        conn.exec_driver_sql("SELECT 1")  # the caller's transaction is open
        report = lint_plan(conn)
        assert conn.in_transaction()  # lint left the caller's transaction alone
        conn.rollback()
        own = lint_plan(conn)
    assert not report.ok and own.ok
    assert rules(report.findings) == [("index-not-concurrent", "danger")]
    assert "CONCURRENTLY" not in report.findings[0].statement
    assert str(report).startswith("DANGER") and "background:#ffebe9" in report._repr_html_()
    frame = report.findings_frame()
    assert isinstance(frame, pd.DataFrame) and frame["severity"].tolist() == ["danger"]
    assert report.to_dict()["counts"]["danger"] == 1


# ------------------------------------------------------------------ CLI


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("clean_cwd")
def test_cli_lint_table_json_and_exit_codes(capsys) -> None:
    assert run(capsys, "init-demo", "--rows", "40")[0] == 0
    code, out, err = run(capsys, "lint")
    assert (code, err) == (0, "")
    assert out.startswith("OK: 4 step(s) from 0001_baseline to head on SQLite")
    assert "[warning]" not in out and "[danger]" not in out

    code, out, _ = run(capsys, "lint", "0002", "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert [s["revision"] for s in data["steps"]] == ["0002_add_status"]
    assert data["rows"] == 40 and data["lock_timeout_s"] == 2.0 and data["basis"]

    code, out, _ = run(capsys, "lint", "--lock-timeout", "5", "--json")
    assert json.loads(out)["lock_timeout_s"] == 5.0
    assert shopmig.current_revision("sqlite:///shopmig.db") == "0001_baseline"

    assert run(capsys, "upgrade", "+1")[0] == 0
    code, out, _ = run(capsys, "lint", "-1")
    assert code == 0 and out.startswith("OK: 1 step(s) from 0002_add_status to -1")
    assert "[warning] table-rewrite (0002_add_status): DROP COLUMN status rewrites" in out


@pytest.mark.usefixtures("clean_cwd")
def test_cli_lint_of_a_table_not_adopted_yet(capsys, tmp_path) -> None:
    execute("sqlite:///shop.db", 'CREATE TABLE "Purchases" (id INTEGER PRIMARY KEY, state TEXT)',
            must_exist=False)
    before = digest(tmp_path / "shop.db")
    code, out, err = run(capsys, "--url", "sqlite:///shop.db", "--table", "purchases",
                         "--column", "stage", "lint", "--json")
    data = json.loads(out)
    assert (code, err, data["ok"], data["current"]) == (0, "", True, None)
    assert "Purchases is not adopted yet" in data["notes"][0]
    assert "stage" in data["steps"][0]["summary"]
    assert digest(tmp_path / "shop.db") == before


@pytest.mark.usefixtures("clean_cwd")
def test_cli_lint_exits_1_on_a_danger(capsys) -> None:
    rows = MigrationOptions().rewrite_row_limit + 1
    assert run(capsys, "init-demo", "--rows", str(rows))[0] == 0
    assert run(capsys, "upgrade", "+1")[0] == 0
    code, out, _ = run(capsys, "lint", "-1", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert [(f["rule"], f["severity"]) for f in data["findings"]] == [
        ("step-refused", "danger"), ("table-rewrite", "warning")]
    assert data["steps"][0]["expected_lock_s"] is None
    code, out, _ = run(capsys, "lint", "-1")
    assert code == 1 and out.startswith("DANGER") and "[danger] step-refused" in out
    assert shopmig.current_revision("sqlite:///shopmig.db") == "0002_add_status"


@pytest.mark.usefixtures("clean_cwd")
def test_cli_lint_errors_exit_2(capsys) -> None:
    code, _, err = run(capsys, "lint")  # no database here
    assert code == 2 and err.startswith("shopmig: error:")
    assert run(capsys, "init-demo", "--rows", "5")[0] == 0
    code, _, err = run(capsys, "lint", "--lock-timeout", "0")
    assert code == 2 and "--lock-timeout" in err
    code, _, err = run(capsys, "lint", "nope")
    assert code == 2 and "unknown revision" in err
