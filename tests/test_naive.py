"""The naive step 0002 and run_under_workload (notebook 05): SQLite always, servers when set.

The naive variant must end exactly where shopmig's step ends (schema, data, revision), rebuild
the table where its impact says so, and the workload accounting must find no lost write; none
of the assertions depend on timing except one generous bound on shopmig's own step.
"""

from __future__ import annotations

import matplotlib
import pytest

import shopmig
from shopmig.errors import InvalidArgumentError, ShopmigError

matplotlib.use("Agg")

ROWS = 2_000
FAST = {"rows_per_sec": 100.0, "lead_s": 0.2, "tail_s": 0.2, "max_s": 60.0}


def _demo(url: str) -> str:
    shopmig.make_demo_shop(url, rows=ROWS, seed=3)
    return url


# ------------------------------------------------------------------ offline


def test_naive_sql_per_dialect_is_the_slow_way() -> None:
    sqlite = shopmig.naive_add_status_sql("sqlite")
    assert "CREATE TABLE _alembic_tmp_orders" in sqlite
    assert "INSERT INTO _alembic_tmp_orders (order_id, amount) SELECT" in sqlite
    assert "DROP TABLE orders" in sqlite and "RENAME TO orders" in sqlite
    pg = shopmig.naive_add_status_sql("postgresql")
    assert pg.splitlines()[0] == "ALTER TABLE orders ADD COLUMN status VARCHAR(16);"
    assert "UPDATE orders SET status = 'pending';" in pg
    assert "SET NOT NULL" in pg and "SET DEFAULT 'pending'" in pg
    maria = shopmig.naive_add_status_sql("mariadb")
    assert maria == ("ALTER TABLE orders ADD COLUMN status VARCHAR(16) NOT NULL DEFAULT "
                     "'pending', ALGORITHM=COPY;")
    assert shopmig.naive_add_status_sql("mysql") == maria


def test_naive_impact_says_which_way_rewrites_the_table() -> None:
    assert shopmig.naive_impact("sqlite").rewrites_table
    assert shopmig.naive_impact("mariadb").rewrites_table
    pg = shopmig.naive_impact("postgresql", rows=1_000)
    assert not pg.rewrites_table and pg.scans_table and "1,000 rows" in pg.blocks_writes
    for dialect in ("sqlite", "postgresql", "mariadb"):
        safe = shopmig.step_impact("0002_add_status", dialect)
        assert not safe.rewrites_table
        assert shopmig.naive_impact(dialect).revision == safe.revision
    with pytest.raises(InvalidArgumentError):
        shopmig.naive_impact("oracle")


def test_workload_url_makes_memory_sqlite_a_file_and_keeps_the_rest() -> None:
    assert shopmig.workload_url("sqlite://", ".", "shop") == "sqlite:///shop.db"
    assert shopmig.workload_url("sqlite://", "/w", "shop") == "sqlite:////w/shop.db"
    assert shopmig.workload_url("sqlite:////a/b.db", "/w", "shop") == "sqlite:////a/shop.db"
    assert (shopmig.workload_url("postgresql+psycopg://u:secret@h:5432/db", ".", "shop")
            == "postgresql+psycopg://u:secret@h:5432/db__shop")  # named like a scratch database


# ------------------------------------------------------------------ SQLite


def test_naive_step_rebuilds_sqlite_and_ends_where_step_0002_ends(make_url) -> None:
    naive, safe = _demo(make_url("sqlite")), _demo(make_url("sqlite"))
    before = shopmig.snapshot(naive)
    page = shopmig.table_identity(naive)
    shopmig.naive_add_status(naive)
    shopmig.upgrade(safe, "0002")
    assert shopmig.table_identity(naive) != page
    assert shopmig.current_revision(naive) == shopmig.current_revision(safe) == "0002_add_status"
    assert shopmig.describe_table(naive).equals(shopmig.describe_table(safe))
    assert shopmig.verify(before, naive, expect={"status": "pending"}).ok
    # a naive-made column rolls back like shopmig's own
    shopmig.downgrade(naive, "-1")
    assert shopmig.describe_table(naive)["name"].tolist() == ["order_id", "amount"]
    assert shopmig.verify(before, naive).ok


def test_naive_step_refuses_anything_but_the_baseline(make_url) -> None:
    url = _demo(make_url("sqlite"))
    shopmig.upgrade(url, "0002")
    with pytest.raises(ShopmigError, match="starts from 0001_baseline"):
        shopmig.naive_add_status(url)
    assert shopmig.current_revision(url) == "0002_add_status"


def test_naive_and_safe_runs_under_the_workload_on_sqlite(make_url) -> None:
    naive_url, safe_url = _demo(make_url("sqlite")), _demo(make_url("sqlite"))
    naive = shopmig.run_under_workload(naive_url, shopmig.naive_add_status, label="naive",
                                       **FAST)
    safe = shopmig.run_under_workload(safe_url, shopmig.safe_add_status, label="safe", **FAST)
    for run in (naive, safe):
        assert run.ok, str(run)
        assert run.committed_writes > 0 and run.lost_writes == 0
        assert run.rows_before == ROWS
        assert run.rows_after == ROWS + run.committed_inserts
        assert run.checks()["every row kept"] is True
        assert set(run.stats) == {"writes", "failed_writes", "max_write_stall_s",
                                  "p50_write_latency_s", "p99_write_latency_s"}
        assert run.to_dict()["label"] == run.label
        [window] = run.steps
        assert (window.started_s, window.seconds, window.ok) == (run.started_s, run.seconds, True)
    assert naive.table_rewritten is True
    assert safe.table_rewritten is False
    assert safe.stats["failed_writes"] == 0  # stall times are benchmarks/status_step's job
    table = shopmig.compare_runs(naive, safe)
    assert list(table.columns) == ["naive", "safe"]
    assert table.loc["table rewritten"].tolist() == [True, False]
    assert table.loc["lost writes"].tolist() == [0, 0]
    fig = shopmig.plot_runs(naive, safe)
    assert len(fig.axes) == 2
    matplotlib.pyplot.close(fig)


def test_a_failing_action_is_recorded_not_raised(make_url) -> None:
    url = _demo(make_url("sqlite"))
    shopmig.upgrade(url, "0002")
    run = shopmig.run_under_workload(url, shopmig.naive_add_status, label="late", **FAST)
    assert not run.ok
    assert "starts from 0001_baseline" in (run.error or "")
    assert run.checks()["action ran"] is False
    assert run.lost_writes == 0 and run.table_rewritten is False


def test_run_under_workload_refuses_an_in_memory_database() -> None:
    engine = shopmig.open_engine("sqlite://")
    shopmig.make_demo_shop(engine, rows=10)
    with pytest.raises(InvalidArgumentError, match="in-memory"):
        shopmig.run_under_workload(engine, shopmig.safe_add_status, label="x", **FAST)
    engine.dispose()


# ------------------------------------------------------------------ servers


@pytest.mark.server
def test_naive_and_safe_runs_on_servers(server_backend, make_url) -> None:
    naive_url, safe_url = _demo(make_url(server_backend)), _demo(make_url(server_backend))
    before = shopmig.snapshot(naive_url)
    naive = shopmig.run_under_workload(naive_url, shopmig.naive_add_status, label="naive",
                                       **FAST)
    safe = shopmig.run_under_workload(safe_url, shopmig.safe_add_status, label="safe", **FAST)
    assert naive.ok, str(naive)
    assert safe.ok, str(safe)
    assert naive.table_rewritten is shopmig.naive_impact(server_backend).rewrites_table
    assert safe.table_rewritten is False
    assert safe.stats["failed_writes"] == 0 and safe.lost_writes == 0
    assert shopmig.describe_table(naive_url).equals(shopmig.describe_table(safe_url))
    assert shopmig.current_revision(naive_url) == "0002_add_status"
    shopmig.downgrade(naive_url, "-1")
    after = shopmig.snapshot(naive_url)
    assert after.columns.tolist() == ["order_id", "amount"]
    assert len(after) == ROWS + naive.committed_inserts
    assert set(before["order_id"]) <= set(after["order_id"])
