"""Every fixture shop, on every backend it exists on, migrated for real (issue 12).

For each shop: adopt a copy made while another session holds the source open; run every step up
with the full catalog and all data unchanged except what the step adds; `downgrade base` back to
a catalog and data identical to the start; rehearse under the workload derived from the table
(nothing lost, no workload error, round trip ok) and rehearse again on the same copy; the
source untouched throughout (table fingerprints and write counters).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from shops import SHOPS, load_shop, shop_cases, source_counters, table_fingerprints

import shopmig
from shopmig.dialects import dialect_for
from shopmig.migrate.target import Target

REVS = shopmig.revisions()


def _added(shop_name: str, backend: str, url: str) -> set[str]:
    """The names the steps create on this shop's table (column, CHECK, index, and on
    PostgreSQL partitions the partitions' indexes)."""
    shop = SHOPS[shop_name]
    dialect = dialect_for(url)
    target = Target(shop.orders, shop.column)
    return {shop.column, target.check_name(dialect), target.index_name(dialect)}


def _unexplained(before, after, table: str, names: set[str]) -> list[str]:  # type: ignore[no-untyped-def]
    """The objects that changed between ``before`` and ``after`` other than what the steps
    create: objects whose name holds one of ``names`` (the column, the CHECK, the index), and
    the migrated table's own entry, whose stored definition and column list grow (SQLite keeps
    the CREATE TABLE text; every database lists the columns). Everything else must be equal,
    property by property."""
    wanted = [n.lower() for n in names]
    out = []
    for key in sorted(before.objects.keys() | after.objects.keys()):
        kind, name = key
        if before.objects.get(key) == after.objects.get(key):
            continue
        if any(n in name.lower() for n in wanted):
            continue
        if kind == "table" and name.split(".")[-1].lower() == table.lower():
            mine, theirs = before.objects[key], after.objects.get(key, {})
            changed = {p for p in mine.keys() | theirs.keys() if mine.get(p) != theirs.get(p)}
            if changed <= {"sql", "columns", "checks", "check_constraints", "indexes"}:
                continue
            out.append(f"{kind} {name}: {sorted(changed)}")
            continue
        out.append(f"{kind} {name}")
    return out


@pytest.mark.parametrize(("name", "backend"), shop_cases())
def test_every_step_keeps_every_object_and_row(name: str, backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    source, copy = make_url(backend), make_url(backend)
    shop = load_shop(name, source)
    objects0 = shopmig.database_objects(source)
    data0 = table_fingerprints(source)
    counters0 = source_counters(source)

    holder = shopmig.open_engine(source)  # another session holds the source open meanwhile
    try:
        with holder.connect() as held:
            held.execute(sa.select(1))
            shopmig.copy_database(source, copy)
    finally:
        holder.dispose()
    assert shopmig.database_objects(copy).diff(objects0) == []
    shopmig.adopt(copy, table=shop.orders, column=shop.column)

    names = _added(name, backend, copy)
    allowed = shopmig.MigrationOptions(allow_table_rewrite=True)  # MariaDB FULLTEXT, say
    for rev in REVS[1:]:
        applied = shopmig.upgrade(copy, "+1", options=allowed)
        assert [a.revision for a in applied if a.direction == "up"] == [rev]
        now = shopmig.database_objects(copy)
        assert _unexplained(objects0, now, shop.orders, names) == [], (rev, now.diff(objects0))
        others = {t: fp for t, fp in table_fingerprints(copy).items()
                  if t.split(".")[-1].lower() != shop.orders.lower()}
        assert others == {t: fp for t, fp in data0.items()
                          if t.split(".")[-1].lower() != shop.orders.lower()}, rev
        result = shopmig.verify(source, copy, table=shop.orders,
                                expect={shop.column: "pending"})
        assert result.ok, (rev, result.summary())
    assert shopmig.diagnose(copy).ok

    shopmig.downgrade(copy, "base", options=allowed)
    assert shopmig.database_objects(copy).diff(objects0) == []
    assert table_fingerprints(copy) == data0
    assert table_fingerprints(source) == data0
    assert source_counters(source) == counters0


@pytest.mark.parametrize(("name", "backend"), shop_cases())
def test_rehearse_twice_with_the_derived_workload(name: str, backend: str, make_url,  # type: ignore[no-untyped-def]
                                                  tmp_path) -> None:
    source, copy = make_url(backend), make_url(backend)
    shop = load_shop(name, source)
    data0 = table_fingerprints(source)
    counters0 = source_counters(source)
    options = shopmig.MigrationOptions(allow_table_rewrite=True)
    for run in (1, 2):
        result = shopmig.rehearse(source, copy_to=copy, table=shop.orders,
                                  column=shop.column, rows_per_sec=30, duration_s=60,
                                  backup_dir=None, options=options, seed=run)
        assert result.ok, (run, result.summary(), result.workload_error_examples)
        assert result.lost_writes == 0 and result.workload_errors == 0
        assert result.roundtrip_ok is True
        assert result.committed_writes > 0
    assert table_fingerprints(source) == data0
    assert source_counters(source) == counters0
    assert shopmig.current_revision(source) is None
