"""database_objects(): every object of a shop, equal for exact copies, and any object that goes
missing or changes is named. A copy that loses an object fails and leaves nothing behind."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import execute
from shops import load_shop, source_counters

import shopmig
from shopmig.copying import exact
from shopmig.errors import CopyIncompleteError

# Per backend: statements that damage a copy of the identity shop, and the sentences (starts)
# the diff must say about them.
DAMAGE = {
    "sqlite": (
        ["DROP TRIGGER orders_audit_update", "DROP INDEX orders_customer_idx",
         "CREATE VIEW extra_view AS SELECT 1 AS x"],
        ["trigger orders_audit_update is in the source but missing in the copy",
         "index orders_customer_idx is in the source but missing in the copy",
         "view extra_view is in the copy but not in the source"],
    ),
    "postgresql": (
        ["DROP TRIGGER orders_audit ON orders", "DROP INDEX orders_customer_idx",
         "ALTER TABLE orders ALTER COLUMN created_at DROP DEFAULT",
         "COMMENT ON COLUMN orders.amount IS 'changed'",
         "ALTER TABLE orders DROP CONSTRAINT orders_amount_check"],
        ["trigger orders.orders_audit is in the source but missing in the copy",
         "index orders_customer_idx is in the source but missing in the copy",
         "column orders.created_at differs: default is 'now()' in the source, None in the copy",
         "column orders.amount differs: comment is 'Total in EUR, VAT included' in the "
         "source, 'changed' in the copy",
         "constraint orders.orders_amount_check is in the source but missing in the copy"],
    ),
    "mariadb": (
        ["DROP TRIGGER orders_audit_update", "CREATE INDEX extra_idx ON orders (amount)",
         "ALTER TABLE orders ALTER COLUMN created_at DROP DEFAULT",
         "ALTER TABLE orders COMMENT = 'changed'"],
        ["trigger orders.orders_audit_update is in the source but missing in the copy",
         "index orders.extra_idx is in the copy but not in the source",
         "column orders.created_at differs: definition is",
         "table orders differs: options is"],
    ),
}


def test_diff_names_every_missing_or_changed_object(backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    source, copy = make_url(backend), make_url(backend)
    load_shop("identity", source)
    shopmig.copy_database(source, copy)
    assert shopmig.database_objects(source).diff(shopmig.database_objects(copy)) == []

    statements, sentences = DAMAGE[backend]
    execute(copy, *statements)
    found = shopmig.database_objects(source).diff(shopmig.database_objects(copy))

    assert len(found) == len(sentences), found
    for sentence in sentences:
        assert any(line.startswith(sentence) for line in found), (sentence, found)
    # The other way round, the sides swap.
    back = shopmig.database_objects(copy).diff(shopmig.database_objects(source),
                                               this="copy", that="source")
    assert len(back) == len(found)


def test_shopmig_tables_are_left_out_unless_asked(backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    url = make_url(backend)
    load_shop("status", url)
    shopmig.mark_database(url, "demo")
    default = shopmig.database_objects(url)
    everything = shopmig.database_objects(url, include_shopmig=True)
    assert "shopmig_meta" not in default.names("table")
    assert "shopmig_meta" in everything.names("table")
    assert not any("shopmig_meta" in name for kind in default.kinds()
                   for name in default.names(kind))
    assert "orders" in default.data_tables()


def test_a_copy_that_loses_an_object_fails_and_is_dropped(backend: str, make_url,  # type: ignore[no-untyped-def]
                                                          monkeypatch) -> None:
    source, target = make_url(backend), make_url(backend)
    load_shop("identity", source)
    trigger = {"postgresql": "DROP TRIGGER orders_touch ON orders"}.get(
        backend, "DROP TRIGGER orders_touch")
    real = exact.exact_copy

    def losing_a_trigger(*args, **kwargs):  # type: ignore[no-untyped-def]
        made = real(*args, **kwargs)
        execute(target, trigger)
        return made

    monkeypatch.setattr(exact, "exact_copy", losing_a_trigger)
    with pytest.raises(CopyIncompleteError) as info:
        shopmig.copy_database(source, target)
    assert any("trigger" in d and "orders_touch" in d and "missing in the copy" in d
               for d in info.value.differences), info.value.differences
    assert "orders_touch" in str(info.value)
    assert not shopmig.database_exists(target)


def test_mark_database_keeps_other_meta_rows(backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    url = make_url(backend)
    load_shop("capitals", url)
    shopmig.mark_database(url, "demo")
    execute(url, "INSERT INTO shopmig_meta (" + ("`key`" if backend == "mariadb" else '"key"')
            + ", value) VALUES ('table', 'Orders')")
    shopmig.mark_database(url, "copy", "sqlite:///elsewhere.db")
    marker = shopmig.database_marker(url)
    assert marker is not None
    assert marker["table"] == "Orders"
    assert marker["role"] == "copy" and marker["origin"] == "sqlite:///elsewhere.db"


def test_source_counters_see_a_write(backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    """The counters the copy tests rely on do move when something writes."""
    url = make_url(backend)
    load_shop("views", url)
    before = source_counters(url)
    execute(url, "UPDATE orders SET qty = qty + 1 WHERE order_id = 7")
    assert source_counters(url) != before


def test_objects_of_a_view_on_a_view_and_partitions(server_backend: str, make_url,  # type: ignore[no-untyped-def]
                                                    request: pytest.FixtureRequest) -> None:
    request.node.add_marker(pytest.mark.server)
    views, parts = make_url(server_backend), make_url(server_backend)
    load_shop("views", views)
    load_shop("partitioned", parts)
    v = shopmig.database_objects(views)
    assert {"recent_orders", "big_recent_orders"} <= set(v.names("view"))
    assert "CASCADED" in str(v.get("view", "big_recent_orders")).upper()
    p = shopmig.database_objects(parts)
    assert p.data_tables().count("orders") == 1
    if server_backend == "postgresql":
        assert sorted(n for n in p.names("table")
                      if (p.get("table", n) or {}).get("partition_of") == "orders") == [
            "orders_2024q1", "orders_2024q2", "orders_2024q3", "orders_default"]
    else:
        assert p.names("partition") == ["orders.p2024q1", "orders.p2024q2", "orders.p2024q3",
                                         "orders.pmax"]
    with shopmig.connect(parts) as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
    assert rows == 300
