"""Tables that are not the demo's: partitions, FULLTEXT, uuid and composite keys, names with
capitals, a taken column name. Each step must run, keep every object, and come back down."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import execute

import shopmig
from shopmig.errors import UnsafeMigrationError

REVS = shopmig.revisions()


def _objects(url: str) -> dict[str, list[str]]:
    """Indexes, constraints and triggers of every table, by name (enough to see a loss)."""
    engine = shopmig.open_engine(url)
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            out = {}
            for table in sorted(insp.get_table_names()):
                if table.startswith("shopmig_"):
                    continue
                out[table] = sorted(
                    [f"ix:{i['name']}" for i in insp.get_indexes(table)]
                    + [f"ck:{c['name']}" for c in insp.get_check_constraints(table)]
                    + [f"fk:{f['name']}" for f in insp.get_foreign_keys(table)]
                    + [f"col:{c['name']}" for c in insp.get_columns(table)])
            out["views"] = sorted(insp.get_view_names())
            return out
    finally:
        engine.dispose()


def test_postgres_partitioned_orders_reach_head_and_back(make_url) -> None:  # type: ignore[no-untyped-def]
    url = make_url("postgresql")
    shopmig.create_database(url)
    execute(
        url,
        "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, placed date NOT NULL, "
        "amount numeric(10,2), PRIMARY KEY (id, placed)) PARTITION BY RANGE (placed)",
        "CREATE TABLE orders_2024 PARTITION OF orders FOR VALUES FROM ('2024-01-01') "
        "TO ('2025-01-01')",
        "CREATE TABLE orders_2025 PARTITION OF orders FOR VALUES FROM ('2025-01-01') "
        "TO ('2026-01-01') PARTITION BY RANGE (placed)",
        "CREATE TABLE orders_2025h1 PARTITION OF orders_2025 FOR VALUES FROM ('2025-01-01') "
        "TO ('2025-07-01')",
        "CREATE TABLE orders_2025h2 PARTITION OF orders_2025 FOR VALUES FROM ('2025-07-01') "
        "TO ('2026-01-01')",
        "INSERT INTO orders (placed, amount) SELECT date '2024-01-01' + mod(g, 700), g "
        "FROM generate_series(1, 700) g",
    )
    before = _objects(url)
    shopmig.adopt(url)
    steps = shopmig.plan(url, "head")
    index_sql = steps[-1].sql
    assert "ON ONLY orders" in index_sql and "ATTACH PARTITION" in index_sql
    assert index_sql.count("CREATE INDEX CONCURRENTLY") == 3  # one per leaf partition
    shopmig.upgrade(url, "head")
    found = shopmig.diagnose(url)
    assert found.ok and found.actual == REVS[-1], found.sentence()
    assert shopmig.row_count(url) == 700
    shopmig.downgrade(url, "base")
    assert _objects(url) == before


@pytest.fixture
def fulltext_shop(make_url):  # type: ignore[no-untyped-def]
    url = make_url("mariadb")
    shopmig.create_database(url)
    execute(
        url,
        "CREATE TABLE orders (order_id INT AUTO_INCREMENT PRIMARY KEY, note TEXT, "
        "amount DECIMAL(10,2), FULLTEXT KEY ft_note (note)) ENGINE=InnoDB",
        "INSERT INTO orders (note, amount) VALUES ('first order', 1.5), ('second', 2.5)",
    )
    shopmig.adopt(url)
    return url


def test_mariadb_fulltext_is_named_before_anything_runs(fulltext_shop: str) -> None:
    url = fulltext_shop
    [step] = shopmig.plan(url, "+1")
    assert step.refusal and "ft_note" in step.refusal
    with pytest.raises(UnsafeMigrationError, match="ft_note"):
        shopmig.upgrade(url, "+1")
    assert shopmig.current_revision(url) == REVS[0]
    allowed = shopmig.MigrationOptions(allow_table_rewrite=True)
    [step] = shopmig.plan(url, "+1", options=allowed)
    assert step.refusal is None and "ALGORITHM=COPY" in step.sql
    assert step.impact.rewrites_table
    [applied] = shopmig.upgrade(url, "+1", options=allowed)
    assert applied.statements == step.statements
    assert shopmig.snapshot(url, key="order_id")["status"].eq("pending").all()
    shopmig.upgrade(url, "head", options=allowed)
    assert "ft_note" in shopmig.table_indexes(url)["name"].tolist()


@pytest.mark.parametrize("kind", ["uuid", "composite", "identity"])
def test_rehearse_a_table_with_another_key(make_url, tmp_path, backend: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    url, copy = make_url(backend), make_url(backend)
    shopmig.create_database(url)
    ddl = {
        "uuid": {
            "sqlite": "CREATE TABLE orders (id TEXT PRIMARY KEY, total REAL NOT NULL, "
                      "customer TEXT NOT NULL)",
            "postgresql": "CREATE TABLE orders (id uuid PRIMARY KEY, total float8 NOT NULL, "
                          "customer text NOT NULL)",
            "mariadb": "CREATE TABLE orders (id UUID PRIMARY KEY, total DOUBLE NOT NULL, "
                       "customer VARCHAR(20) NOT NULL)",
        },
        "composite": {
            "sqlite": "CREATE TABLE orders (shop TEXT NOT NULL, id INTEGER NOT NULL, "
                      "total REAL NOT NULL, customer TEXT NOT NULL, PRIMARY KEY (shop, id))",
            "postgresql": "CREATE TABLE orders (shop text, id int, total float8 NOT NULL, "
                          "customer text NOT NULL, PRIMARY KEY (shop, id))",
            "mariadb": "CREATE TABLE orders (shop VARCHAR(8), id INT, total DOUBLE NOT NULL, "
                       "customer VARCHAR(20) NOT NULL, PRIMARY KEY (shop, id))",
        },
        "identity": {
            "sqlite": "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL NOT NULL, "
                      "customer TEXT NOT NULL)",
            "postgresql": "CREATE TABLE orders (id bigint GENERATED BY DEFAULT AS IDENTITY "
                          "PRIMARY KEY, total float8 NOT NULL, customer text NOT NULL)",
            "mariadb": "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                       "total DOUBLE NOT NULL, customer VARCHAR(20) NOT NULL)",
        },
    }[kind][backend]
    rows = {
        "uuid": "INSERT INTO orders VALUES ('{}', {}, 'c{}')",
        "composite": "INSERT INTO orders VALUES ('s{}', {}, {}, 'c{}')",
        "identity": "INSERT INTO orders (total, customer) VALUES ({}, 'c{}')",
    }[kind]
    import uuid as _uuid

    values = []
    for i in range(60):
        if kind == "uuid":
            values.append(rows.format(_uuid.UUID(int=i + 1), i * 1.5, i % 7))
        elif kind == "composite":
            values.append(rows.format(i % 3, i, i * 1.5, i % 7))
        else:
            values.append(rows.format(i * 1.5, i % 7))
    execute(url, ddl, *values, must_exist=False)
    first = shopmig.rehearse(url, copy_to=copy, rows_per_sec=40, duration_s=20,
                             backup_dir=None)
    assert first.ok, (first.summary(), first.workload_error_examples)
    assert first.committed_writes > 0 and first.workload_errors == 0
    assert shopmig.current_revision(url) is None  # the source was neither adopted nor moved
    again = shopmig.rehearse(url, copy_to=copy, rows_per_sec=40, duration_s=20,
                             backup_dir=None)
    assert again.ok, (again.summary(), again.workload_error_examples)
    assert any("rolled it back" in note for note in again.notes)
