"""Every fixture shop (tests/fixtures/shops) copied on each backend it exists on: every object and
every row arrive, the source is not touched, also while another session holds it open; backups
restore to the same objects; cross-engine copies carry the rows and name what they leave."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from shops import SHOPS, load_shop, shop_cases, source_counters, table_fingerprints

import shopmig

EXACT = {"sqlite": "sqlite-backup", "postgresql": "template", "mariadb": "mariadb-dump"}
HELD = {"sqlite": "sqlite-backup", "postgresql": "pg_dump", "mariadb": "mariadb-dump"}


@contextlib.contextmanager
def session_on(url: str) -> Iterator[sa.Connection]:
    """Another session on ``url`` in the middle of a read transaction (what a shop's
    application or a person's psql does)."""
    with shopmig.connect(url) as conn:
        conn.execute(sa.select(sa.literal(1))).scalar_one()
        objects = shopmig.database_objects(conn)
        schema, table = objects.table_ref(objects.data_tables()[0])
        conn.execute(sa.select(sa.func.count()).select_from(sa.table(table, schema=schema)))
        yield conn  # the read transaction stays open while the block runs
        conn.rollback()


def snapshot(url: str) -> tuple[object, object, object]:
    """Objects, data and write counters of a database: all three must not move."""
    return (shopmig.database_objects(url, include_shopmig=True).to_dict(),
            table_fingerprints(url), source_counters(url))


@pytest.mark.parametrize(("shop", "backend"), shop_cases())
@pytest.mark.parametrize("held", [False, True], ids=["alone", "held-open"])
def test_exact_copy_of_each_shop(shop: str, backend: str, held: bool, make_url) -> None:  # type: ignore[no-untyped-def]
    source = make_url(backend)
    load_shop(shop, source)
    before = snapshot(source)
    target = make_url(backend)

    with session_on(source) if held else contextlib.nullcontext():
        result = shopmig.copy_database(source, target)

    assert result.method == (HELD if held else EXACT)[backend], result.notes
    if held and backend == "postgresql":
        assert any("TEMPLATE" in n and "1 connected" in n for n in result.notes), result.notes
    else:
        assert result.notes == []
    want = shopmig.database_objects(source)
    got = shopmig.database_objects(target)
    assert want.diff(got) == []
    assert result.objects >= len(want) > 5
    assert SHOPS[shop].orders in want.names("table")
    assert table_fingerprints(target) == before[1]
    assert result.tables == {t: n for t, (n, _) in before[1].items()}
    assert shopmig.database_marker(target)["role"] == "copy"  # type: ignore[index]
    assert snapshot(source) == before  # objects, rows and write counters: untouched
    assert shopmig.database_marker(source) is None


@pytest.mark.parametrize(("shop", "backend"), shop_cases())
def test_backup_and_restore_of_each_shop(shop: str, backend: str, make_url,  # type: ignore[no-untyped-def]
                                         tmp_path: Path) -> None:
    source = make_url(backend)
    load_shop(shop, source)
    before = snapshot(source)

    made = shopmig.backup_database(source, tmp_path)
    target = make_url(backend)
    shopmig.restore_backup(made, target)

    assert shopmig.database_objects(source).diff(shopmig.database_objects(target)) == []
    assert table_fingerprints(target) == before[1]
    assert snapshot(source) == before
    assert not list(tmp_path.glob("*.partial"))


# ------------------------------------------------------------------ across engines

NOT_CARRIED = {
    "identity": ["triggers"],
    "views": ["views"],
    "routines": ["routines"],
    "partitioned": ["partitioned tables are copied as one table each (orders)"],
    "status": ["collations"],
}


@pytest.mark.parametrize(("shop", "backend"), shop_cases(("postgresql", "mariadb")))
def test_stream_each_server_shop_to_sqlite(shop: str, backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    source = make_url(backend)
    load_shop(shop, source)
    before = snapshot(source)
    plain = table_fingerprints(source, plain=True)
    target = make_url("sqlite")

    result = shopmig.copy_database(source, target)

    assert result.method == "stream"
    assert table_fingerprints(target, plain=True) == plain
    for words in NOT_CARRIED.get(shop, []):
        assert any(words in note for note in result.notes), result.notes
    assert snapshot(source) == before
    objects = shopmig.database_objects(target)
    fks = [name for name in objects.names("foreign key")]
    if shop == "bigint":  # the self-reference and the cycle arrive as foreign keys
        assert "categories(parent_id) -> categories" in fks
        assert "categories(featured_product_id) -> products" in fks
    if shop == "uuid":
        with shopmig.connect(target) as conn:
            keys = conn.exec_driver_sql("SELECT order_id FROM orders").scalars().all()
        assert len(keys) == 300 and all(len(k) == 36 and k.count("-") == 4 for k in keys)
    if shop == "views":  # (qty)::numeric * unit_price: SQLite computes it without the cast
        total = objects.get("column", "orders.total")
        assert total is not None and total.get("generated") == "stored"
        assert "CHECK" in (objects.get("table", "orders") or {}).get("sql", "")


@pytest.mark.parametrize(("shop", "backend"), shop_cases(("sqlite",)))
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_stream_each_sqlite_shop_to_a_server(shop: str, backend: str, server: str,  # type: ignore[no-untyped-def]
                                             make_url, request: pytest.FixtureRequest) -> None:
    request.node.add_marker(pytest.mark.server)
    source = make_url("sqlite")
    load_shop(shop, source)
    digest = source_counters(source)
    plain = table_fingerprints(source, plain=True)
    target = make_url(server)

    result = shopmig.copy_database(source, target)

    assert result.method == "stream"
    got = table_fingerprints(target, plain=True)
    assert got == plain
    assert source_counters(source) == digest
    if shop == "identity":  # the key counter moved past the copied rows
        with shopmig.connect(target) as conn:
            conn.execute(sa.text("INSERT INTO orders (customer_id, amount, created_at) "
                                 "VALUES (1, 2.5, '2024-06-01 00:00:00')"))
            new_key = conn.execute(sa.text("SELECT max(order_id) FROM orders")).scalar_one()
            conn.commit()
        assert new_key == 301
    assert result.tables == {t: n for t, (n, _) in plain.items()}
