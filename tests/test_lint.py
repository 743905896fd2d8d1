"""The lint/preflight view: every rule fires on the naive statement it is about, none fires on
shopmig's own SQL except the honest ones (the MariaDB/SQLite CHECK step copies the table),
``lint_plan`` on each backend runs nothing, and the ``shopmig lint`` command's exit codes and
JSON.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import shopmig
from shopmig import lint
from shopmig.cli import main
from shopmig.errors import InvalidArgumentError, NotVersionedError
from shopmig.lint import STEP_COLUMNS, Finding, LintReport, lint_plan, lint_sql
from shopmig.migrate import core as migrate
from shopmig.migrate.steps import MigrationOptions, step_impact

SERVER_DIALECTS = ("postgresql", "mariadb", "mysql")
ALL_DIALECTS = ("sqlite", *SERVER_DIALECTS)


def rules(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in findings]


# ------------------------------------------------------------------ every rule fires

NAIVE = [
    # (dialect, sql, rule, severity)
    ("postgresql", "ALTER TABLE orders ADD COLUMN token text DEFAULT md5(random()::text)",
     "volatile-default", "danger"),
    ("postgresql", "alter table orders add column id uuid default gen_random_uuid()",
     "volatile-default", "danger"),
    ("postgresql", "ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT clock_timestamp()",
     "volatile-default", "danger"),
    ("mariadb", "ALTER TABLE orders ADD COLUMN u CHAR(36) DEFAULT uuid(), ALGORITHM=INSTANT",
     "volatile-default", "danger"),
    ("sqlite", "ALTER TABLE orders ADD COLUMN r REAL DEFAULT (random())",
     "volatile-default", "danger"),
    ("postgresql", "ALTER TABLE orders ALTER COLUMN status SET NOT NULL",
     "not-null-without-check", "danger"),
    ("postgresql", "CREATE INDEX ix ON orders (status)", "index-not-concurrent", "danger"),
    ("postgresql", "CREATE UNIQUE INDEX ix ON public.orders USING btree (status)",
     "index-not-concurrent", "danger"),
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT uq UNIQUE (status)",
     "index-not-concurrent", "danger"),
    ("mariadb", "CREATE INDEX ix ON orders (status)", "index-not-concurrent", "warning"),
    ("mariadb", "ALTER TABLE orders ADD INDEX ix (status)", "index-not-concurrent", "warning"),
    ("mariadb", "ALTER TABLE orders ADD INDEX ix (status), ALGORITHM=INPLACE, LOCK=SHARED",
     "index-not-concurrent", "danger"),
    ("mysql", "CREATE INDEX ix ON orders (status) ALGORITHM=COPY", "index-not-concurrent",
     "danger"),
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT ck CHECK (status IN ('paid'))",
     "check-not-valid", "danger"),
    ("postgresql", "ALTER TABLE orders ADD CHECK (amount >= 0)", "check-not-valid", "danger"),
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) "
     "REFERENCES customers (id)", "check-not-valid", "danger"),
    ("mariadb", "ALTER TABLE orders ADD COLUMN s VARCHAR(16) NOT NULL DEFAULT 'x', "
     "ALGORITHM=COPY", "table-rewrite", "danger"),
    ("mariadb", "ALTER TABLE orders ADD COLUMN s VARCHAR(16)", "table-rewrite", "warning"),
    ("mariadb", "ALTER TABLE orders MODIFY status VARCHAR(32) NOT NULL", "table-rewrite",
     "warning"),
    ("mariadb", "ALTER TABLE orders FORCE, ALGORITHM=COPY", "table-rewrite", "danger"),
    ("postgresql", "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12, 2)",
     "table-rewrite", "danger"),
    ("postgresql", "UPDATE orders SET status = 'paid'", "table-rewrite", "danger"),
    ("mariadb", "UPDATE orders o SET o.status = 'paid'", "table-rewrite", "danger"),
    ("sqlite", "CREATE TABLE t2 (a TEXT); INSERT INTO t2 (a) SELECT order_id FROM orders; "
     "DROP TABLE orders; ALTER TABLE t2 RENAME TO orders", "table-rewrite", "warning"),
    ("postgresql", "ALTER TABLE orders DROP COLUMN status", "no-lock-timeout", "warning"),
    ("mariadb", "DROP INDEX ix ON orders", "no-lock-timeout", "warning"),
]


@pytest.mark.parametrize(("dialect", "sql", "rule", "severity"), NAIVE,
                         ids=[f"{d}-{r}-{i}" for i, (d, _, r, _) in enumerate(NAIVE)])
def test_every_rule_fires_on_the_naive_statement(dialect, sql, rule, severity) -> None:
    timeout = None if rule == "no-lock-timeout" else 2.0
    found = lint_sql(sql, dialect, lock_timeout_s=timeout)
    assert (rule, severity) in rules(found), rules(found)
    hit = next(f for f in found if f.rule == rule)
    assert hit.message and hit.fix and hit.revision is None
    assert hit.statement in " ".join(sql.split())


def test_every_rule_is_covered_by_a_naive_statement() -> None:
    assert {r for _, _, r, _ in NAIVE} == set(lint.RULES)


def test_safe_forms_do_not_fire() -> None:
    safe = [
        ("postgresql", "CREATE INDEX CONCURRENTLY ix ON orders (status)"),
        ("postgresql", "ALTER TABLE orders ADD CONSTRAINT ck CHECK (amount >= 0) NOT VALID"),
        ("postgresql", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES c (id) "
         "NOT VALID"),
        ("postgresql", "ALTER TABLE orders ADD COLUMN note text DEFAULT 'random()'"),
        ("postgresql", "ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT now()"),
        ("postgresql", "ALTER TABLE orders ALTER COLUMN token SET DEFAULT gen_random_uuid()"),
        ("postgresql", "UPDATE orders SET status = 'paid' WHERE order_id = 'a'"),
        ("postgresql", "-- CREATE INDEX ix ON orders (status);\nSELECT 1"),
        ("postgresql", "/* UPDATE orders SET status = 'x' */ SELECT 'a;b'"),
        ("mariadb", "CREATE INDEX ix ON orders (status) ALGORITHM=INPLACE LOCK=NONE"),
        ("mariadb", "ALTER TABLE orders ADD INDEX ix (status), ALGORITHM=INPLACE, LOCK=NONE"),
        ("mariadb", "ALTER TABLE orders ADD COLUMN s VARCHAR(16) DEFAULT 'x', ALGORITHM=INSTANT"),
        ("sqlite", "ALTER TABLE orders ADD COLUMN s TEXT DEFAULT 'pending' NOT NULL"),
        ("sqlite", "CREATE INDEX ix ON orders (status)"),
    ]
    for dialect, sql in safe:
        assert lint_sql(sql, dialect, lock_timeout_s=2.0) == [], (dialect, sql)


def test_a_table_created_in_the_same_sql_is_new_and_empty() -> None:
    sql = ("CREATE TABLE audit (id int, note text); CREATE INDEX ix ON audit (id); "
           "ALTER TABLE audit ADD CONSTRAINT ck CHECK (id > 0); UPDATE audit SET note = 'x'")
    assert lint_sql(sql, "postgresql") == []


# ------------------------------------------------------------------ context-dependent rules


def test_set_not_null_after_a_validated_check_is_safe_from_postgresql_12() -> None:
    steps = ["ALTER TABLE orders ADD CONSTRAINT nn CHECK (status IS NOT NULL) NOT VALID",
             "ALTER TABLE orders VALIDATE CONSTRAINT nn",
             "ALTER TABLE orders ALTER COLUMN status SET NOT NULL"]
    assert lint_sql(";\n".join(steps), "postgresql", lock_timeout_s=2) == []
    assert lint_sql(";\n".join(steps), "postgresql", lock_timeout_s=2,
                    server_version=(16, 2)) == []
    # not validated yet: the scan still happens
    unvalidated = lint_sql(";".join([steps[0], steps[2]]), "postgresql", lock_timeout_s=2)
    assert rules(unvalidated) == [("not-null-without-check", "danger")]
    # PostgreSQL 11 cannot use the check
    old = lint_sql(";".join(steps), "postgresql", lock_timeout_s=2, server_version=(11, 9))
    assert rules(old) == [("not-null-without-check", "danger")]
    assert "before 12" in old[0].message
    # a check on another column does not count
    other = lint_sql("ALTER TABLE orders ADD CONSTRAINT nn CHECK (amount IS NOT NULL);"
                     "ALTER TABLE orders ALTER COLUMN status SET NOT NULL", "postgresql",
                     lock_timeout_s=2)
    assert rules(other) == [("check-not-valid", "danger"), ("not-null-without-check", "danger")]


def test_postgresql_before_11_rewrites_for_any_default() -> None:
    sql = "ALTER TABLE orders ADD COLUMN s varchar(16) DEFAULT 'pending' NOT NULL"
    assert lint_sql(sql, "postgresql", lock_timeout_s=2, server_version=(15, 4)) == []
    assert rules(lint_sql(sql, "postgresql", lock_timeout_s=2, server_version=(10, 23))) == [
        ("table-rewrite", "danger")]


def test_no_lock_timeout_warns_once_per_plan_and_only_on_servers() -> None:
    sql = ("ALTER TABLE orders ADD COLUMN a int; CREATE INDEX CONCURRENTLY ix ON orders (a); "
           "ALTER TABLE orders DROP COLUMN a")
    found = lint_sql(sql, "postgresql")
    assert rules(found) == [("no-lock-timeout", "warning")]
    assert found[0].statement == "ALTER TABLE orders ADD COLUMN a int"
    assert "lock_timeout" in found[0].fix
    assert lint_sql(sql, "postgresql", lock_timeout_s=2.0) == []
    assert lint_sql("SET lock_timeout = '2s';\n" + sql, "postgresql") == []
    assert lint_sql("set local lock_timeout to 2000;\n" + sql, "postgresql") == []
    assert rules(lint_sql("SET lock_timeout = 0;\n" + sql, "postgresql")) == [
        ("no-lock-timeout", "warning")]
    assert lint_sql("ALTER TABLE orders DROP COLUMN a", "sqlite") == []
    maria = "ALTER TABLE orders DROP COLUMN a"
    assert "lock_wait_timeout" in lint_sql(maria, "mariadb")[0].fix
    assert lint_sql("SET SESSION lock_wait_timeout = 2; " + maria, "mariadb") == []
    assert lint_sql("SET STATEMENT lock_wait_timeout=2 FOR " + maria, "mariadb") == []
    assert lint_sql("CREATE TABLE t (a int)", "postgresql") == []  # new table: nothing waits


def test_rows_put_sizes_and_estimates_into_messages() -> None:
    sql = "CREATE INDEX ix ON orders (status)"
    sized = lint_sql(sql, "postgresql", rows=1_000_000, lock_timeout_s=2)[0]
    assert "1,000,000 rows" in sized.message and "estimate" in sized.message
    unsized = lint_sql(sql, "postgresql", lock_timeout_s=2)[0]
    assert "every row" in unsized.message


def test_quoted_and_qualified_names_and_literals_with_semicolons() -> None:
    sql = ('ALTER TABLE "public"."Orders" ADD CONSTRAINT "ck" CHECK ("note" <> \'a;b\'); '
           "ALTER TABLE `orders` ADD COLUMN `x` INT, ALGORITHM=INSTANT")
    assert rules(lint_sql(sql, "postgresql", lock_timeout_s=2)) == [("check-not-valid", "danger")]
    assert len(lint._split(sql).__next__().text) > 40  # the literal's ';' did not split
    assert lint_sql(sql.split("; ")[1], "mariadb", lock_timeout_s=2) == []


def test_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="dialect"):
        lint_sql("SELECT 1", "oracle")
    with pytest.raises(InvalidArgumentError, match="rows"):
        lint_sql("SELECT 1", "sqlite", rows=-1)
    assert lint_sql("", "postgresql") == []


# ------------------------------------------------------------------ shopmig's own SQL

# The only findings on shopmig's own SQL: the CHECK step copies the table where no online
# path exists. Honest warnings, never silence, never a danger.
HONEST = {
    ("sqlite", "0003_status_check", "up"): [("table-rewrite", "warning")],
    ("sqlite", "0003_status_check", "down"): [("table-rewrite", "warning")],
    ("mariadb", "0003_status_check", "up"): [("table-rewrite", "warning")],
    ("mysql", "0003_status_check", "up"): [("table-rewrite", "warning")],
}


@pytest.mark.parametrize("dialect", ALL_DIALECTS)
@pytest.mark.parametrize("direction", ["up", "down"])
def test_shopmig_sql_raises_only_the_honest_findings(dialect: str, direction: str) -> None:
    for rev in shopmig.revisions():
        if rev == "0001_baseline" and direction == "down":
            continue
        sql = migrate.step_sql(rev, direction, dialect, version_table=False)
        found = lint_sql(sql, dialect, rows=500_000, lock_timeout_s=2.0)
        assert rules(found) == HONEST.get((dialect, rev, direction), []), (rev, found)


def test_shopmig_sql_without_a_lock_timeout_warns_once() -> None:
    for dialect in SERVER_DIALECTS:
        sql = "\n".join(migrate.step_sql(rev, "up", dialect, version_table=False)
                        for rev in shopmig.revisions()[1:])
        found = lint_sql(sql, dialect)
        assert [f.rule for f in found].count("no-lock-timeout") == 1
        assert not any(f.severity == "danger" for f in found)


# ------------------------------------------------------------------ the time model


def test_expected_lock_seconds_model() -> None:
    sql = "CREATE INDEX CONCURRENTLY ix ON orders (status)"
    index = step_impact("0005_status_index", "postgresql", rows=1_000_000)
    small = lint.expected_lock_seconds(index, sql, 1_000)
    big = lint.expected_lock_seconds(index, sql, 1_000_000)
    assert small is not None and big is not None and small < big
    assert big == pytest.approx(lint.METADATA_LOCK_S + 1e6 * lint.RATES_S_PER_ROW["postgresql"][
        "index"], abs=1e-3)
    assert lint.expected_lock_seconds(index, sql, None) is None
    meta = step_impact("0002_add_status", "postgresql")
    assert lint.expected_lock_seconds(meta, "ALTER TABLE ...", 10**9) == lint.METADATA_LOCK_S
    noop = step_impact("0004_validate_status_check", "mariadb")
    assert lint.expected_lock_seconds(noop, "", 10**9) == 0.0
    rewrite = step_impact("0003_status_check", "mariadb")
    assert lint.expected_lock_seconds(rewrite, "ALTER ...", 10**6) == pytest.approx(
        lint.METADATA_LOCK_S + lint.RATES_S_PER_ROW["mysql"]["rewrite"] * 1e6, abs=1e-3)
    old_pg = step_impact("0002_add_status", "postgresql", server_version=(10, 5))
    assert lint.expected_lock_seconds(old_pg, "ALTER ...", 10**6) > 1.0


# ------------------------------------------------------------------ lint_plan on each backend


def test_lint_plan_on_a_demo_shop_runs_nothing(demo_url: str, backend: str) -> None:
    before = shopmig.current_revision(demo_url)
    report = lint_plan(demo_url)
    assert shopmig.current_revision(demo_url) == before == "0001_baseline"
    assert isinstance(report, LintReport)
    assert list(report.steps.columns) == STEP_COLUMNS
    assert report.steps["revision"].tolist() == shopmig.revisions()[1:]
    assert report.rows == 300 and report.current == "0001_baseline"
    assert report.lock_timeout_s == MigrationOptions().lock_timeout_s
    assert report.server_version and report.ok
    family = "mysql" if backend == "mariadb" else backend
    expected = {rev: [f"{r} ({s})" for r, s in found]
                for (d, rev, direction), found in HONEST.items()
                if d == family and direction == "up"}
    for row in report.steps.to_dict(orient="records"):
        assert row["findings"] == expected.get(row["revision"], []), row
        assert row["summary"] and row["lock"] and row["blocks_writes"]
        assert 0 <= row["expected_lock_s"] < 1  # 300 rows: milliseconds everywhere
    by_rev = report.steps.set_index("revision")
    assert bool(by_rev.loc["0003_status_check", "rewrites_table"]) == (backend != "postgresql")
    assert bool(by_rev.loc["0005_status_index", "scans_table"])
    assert by_rev.loc["0002_add_status", "expected_lock_s"] == lint.METADATA_LOCK_S
    assert all(f.revision == "0003_status_check" for f in report.findings)

    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is True and len(data["steps"]) == 4
    assert data["counts"] == {"steps": 4, "danger": 0, "warning": len(report.findings),
                              "info": 0}
    page = report._repr_html_()
    assert "0005_status_index" in page and "expected_lock_s" in page
    assert ("background:#fff8c5" in page) == bool(report.findings)
    assert "OK:" in str(report) and "Estimate" in str(report)


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
        assert [f.revision for f in down.findings] == ["0003_status_check"]


def test_lint_plan_danger_makes_the_report_not_ok(monkeypatch) -> None:
    real = migrate.step_sql

    def naive(revision: str, direction: str, dialect_name: str, **kw) -> str:
        if revision == "0005_status_index":
            return "UPDATE orders SET status = 'paid'"
        return real(revision, direction, dialect_name, **kw)

    monkeypatch.setattr(migrate, "step_sql", naive)
    with shopmig.connect("sqlite://") as conn:
        shopmig.make_demo_shop(conn, rows=20)
        report = lint_plan(conn)
    assert not report.ok
    assert report.counts["danger"] == 1
    assert report.steps.iloc[-1]["findings"] == ["table-rewrite (danger)"]
    assert "background:#ffebe9" in report._repr_html_()
    assert str(report).startswith("DANGER")
    frame = report.findings_frame()
    assert isinstance(frame, pd.DataFrame) and frame["severity"].tolist() == ["warning",
                                                                               "danger"]


def test_lint_plan_of_an_unversioned_table_raises(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    with shopmig.connect(url, must_exist=False) as conn:
        conn.exec_driver_sql("CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount REAL)")
        conn.commit()
    with pytest.raises(NotVersionedError):
        lint_plan(url)


# ------------------------------------------------------------------ CLI


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("clean_cwd")
def test_cli_lint_table_json_and_exit_codes(capsys, monkeypatch) -> None:
    assert run(capsys, "init-demo", "--rows", "40")[0] == 0
    code, out, err = run(capsys, "lint")
    assert (code, err) == (0, "")
    assert out.startswith("OK: 4 step(s)") and "table-rewrite (warning)" in out

    code, out, _ = run(capsys, "lint", "0002", "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert [s["revision"] for s in data["steps"]] == ["0002_add_status"]
    assert data["rows"] == 40 and data["lock_timeout_s"] == 2.0 and data["basis"]

    code, out, _ = run(capsys, "lint", "--lock-timeout", "5", "--json")
    assert json.loads(out)["lock_timeout_s"] == 5.0
    assert shopmig.current_revision("sqlite:///shopmig.db") == "0001_baseline"

    real = migrate.step_sql
    monkeypatch.setattr(migrate, "step_sql", lambda rev, *a, **kw: (
        "CREATE TABLE t (a int); UPDATE orders SET amount = 0" if rev == "0002_add_status"
        else real(rev, *a, **kw)))
    code, out, _ = run(capsys, "lint", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert data["findings"][0]["rule"] == "table-rewrite"
    assert data["findings"][0]["severity"] == "danger"
    code, out, _ = run(capsys, "lint")
    assert code == 1 and out.startswith("DANGER") and "[danger] table-rewrite" in out


@pytest.mark.usefixtures("clean_cwd")
def test_cli_lint_errors_exit_2(capsys) -> None:
    code, _, err = run(capsys, "lint")  # no database here
    assert code == 2 and err.startswith("shopmig: error:")
    assert run(capsys, "init-demo", "--rows", "5")[0] == 0
    code, _, err = run(capsys, "lint", "--lock-timeout", "0")
    assert code == 2 and "--lock-timeout" in err
    code, _, err = run(capsys, "lint", "nope")
    assert code == 2 and "unknown revision" in err
