"""Half-applied steps: the schema and the version table disagree, shopmig says so and how to
recover (on MariaDB/MySQL a step's DDL cannot be rolled back)."""

from __future__ import annotations

import shopmig
from shopmig.cli import main
from shopmig.migrate.core import half_applied, schema_revision
from shopmig.rehearsal.run import rehearse

REVS = shopmig.revisions()


def test_schema_and_version_agree_at_every_revision(demo_url) -> None:  # type: ignore[no-untyped-def]
    for rev in REVS:
        shopmig.upgrade(demo_url, rev)
        assert half_applied(demo_url) is None, rev
        assert schema_revision(demo_url) is not None


def test_ddl_ran_but_version_not_recorded_is_reported_and_stamp_recovers(  # type: ignore[no-untyped-def]
        demo_url, backend, make_url, tmp_path, capsys) -> None:
    shopmig.upgrade(demo_url, REVS[1])
    # what a crash between MariaDB's (auto-committed) DDL and the version update leaves behind
    shopmig.migrate.stamp(demo_url, REVS[0])
    message = half_applied(demo_url)
    assert message and "status column" in message and f"shopmig stamp {REVS[1]}" in message
    copy_to = make_url(backend)
    result = rehearse(demo_url, copy_to=copy_to, rows_per_sec=50, duration_s=30,
                      backup_dir=None, roundtrip=False)
    assert not result.ok and REVS[1] in result.failure and "Half-applied" in result.failure
    assert shopmig.current_revision(copy_to) == REVS[0]  # nothing else was changed
    assert main(["--url", copy_to, "stamp", REVS[1]]) == 0
    assert "now recorded at revision" in capsys.readouterr().out
    assert half_applied(copy_to) is None
    assert shopmig.upgrade(copy_to, "head")[-1].to_revision == REVS[-1]
    after = shopmig.verify(demo_url, copy_to)  # the copy also holds the workload's writes
    assert after.missing.empty and after.rows_after >= after.rows_before
