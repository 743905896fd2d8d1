"""Half-applied steps: the schema and the version table disagree; shopmig names it, refuses to
record a revision the schema does not show, and repairs it on the next upgrade."""

from __future__ import annotations

import pytest
from alembic import command
from helpers import drop_check

import shopmig
from shopmig.cli import main
from shopmig.db import use_connection
from shopmig.errors import HalfAppliedError
from shopmig.migrate.core import alembic_config, half_applied, schema_revision

REVS = shopmig.revisions()


def record_only(url: str, revision: str) -> None:
    """What a crash between a step's DDL and its version update leaves: the version table
    says ``revision`` whatever the schema shows (Alembic's own stamp, no checks)."""
    with use_connection(url) as conn:
        command.stamp(alembic_config(conn), revision, purge=True)
        conn.commit()


def test_schema_and_version_agree_at_every_revision(demo_url) -> None:  # type: ignore[no-untyped-def]
    for rev in REVS:
        shopmig.upgrade(demo_url, rev)
        assert half_applied(demo_url) is None, rev
        assert schema_revision(demo_url) == rev or (
            rev == REVS[3] and schema_revision(demo_url) in REVS[2:4])  # 0004: nothing to see


def test_ddl_ran_but_version_not_recorded_is_named_and_repaired(  # type: ignore[no-untyped-def]
        demo_url, capsys) -> None:
    shopmig.upgrade(demo_url, REVS[2])
    record_only(demo_url, REVS[1])  # 0003's DDL ran, its version was not written
    message = half_applied(demo_url)
    assert message and REVS[2] in message and "records the real revision" in message
    history = shopmig.history(demo_url)
    assert history.loc[history["revision"] == REVS[2], ["applied", "in_schema"]].values.tolist(
        ) == [[False, True]]

    with pytest.raises(HalfAppliedError):  # stamping a revision the schema lacks is refused
        shopmig.stamp(demo_url, REVS[4])
    assert shopmig.current_revision(demo_url) == REVS[1]

    applied = shopmig.upgrade(demo_url, "head")
    assert applied[0].direction == "record" and applied[0].from_revision == REVS[1]
    assert applied[0].to_revision in REVS[2:4]  # 0004 leaves nothing to see on most databases
    assert applied[-1].to_revision == REVS[-1]
    assert REVS[2] not in [a.revision for a in applied if a.direction == "up"]  # not run twice
    assert half_applied(demo_url) is None
    assert shopmig.snapshot(demo_url)["status"].eq("pending").all()


def test_stamp_records_only_what_the_schema_shows(demo_url, capsys) -> None:  # type: ignore[no-untyped-def]
    shopmig.upgrade(demo_url, REVS[1])
    record_only(demo_url, REVS[0])
    assert main(["--url", demo_url, "stamp", REVS[1]]) == 0
    assert "now recorded at revision" in capsys.readouterr().out
    assert half_applied(demo_url) is None
    assert main(["--url", demo_url, "stamp", REVS[2]]) == 2
    assert "does not show revision" in capsys.readouterr().err
    assert shopmig.current_revision(demo_url) == REVS[1]


def test_a_state_no_revision_describes_is_refused(demo_url) -> None:  # type: ignore[no-untyped-def]
    shopmig.upgrade(demo_url, "head")
    drop_check(demo_url)  # the index without the CHECK: no revision's state
    found = shopmig.diagnose(demo_url)
    assert not found.recognized and not found.ok
    with pytest.raises(HalfAppliedError, match="repair the table by hand"):
        shopmig.upgrade(demo_url, "head")
