"""Rehearsals: every pending step on a copy under a synthetic workload, checked and reported."""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import pytest
from helpers import digest, execute, sqlite_exec

import shopmig
from shopmig.cli import main
from shopmig.rehearsal.run import rehearse

REQUIRED_STEP_FIELDS = {"revision", "seconds", "max_write_stall_s", "p99_write_latency_s",
                        "verify_ok"}


def small_rehearsal(source: str, copy_to: str | None, tmp_path: Path, **kwargs):  # type: ignore[no-untyped-def]
    return rehearse(source, copy_to=copy_to, rows_per_sec=80, duration_s=60,
                    backup_dir=tmp_path / "backups", **kwargs)


def test_cli_rehearse_sqlite_json_report_and_untouched_source(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(src, rows=3_000, seed=4)
    before = digest(tmp_path / "shop.db")
    report = tmp_path / "report.html"
    code = main(["rehearse", src, "--rows-per-sec", "80", "--duration", "60", "--report",
                 str(report), "--backup-dir", str(tmp_path / "b"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["ok"] is True and out["roundtrip_ok"] is True
    assert (out["lost_writes"], out["failed_writes"], out["unexplained_differences"]) == (0, 0, 0)
    assert out["committed_writes"] > 0
    assert [s["revision"] for s in out["steps"]] == shopmig.revisions()[1:]
    for step in out["steps"]:
        assert set(step) >= REQUIRED_STEP_FIELDS and step["verify_ok"] is True
    html = report.read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "REHEARSAL OK" in html
    assert all(rev in html for rev in shopmig.revisions()[1:])
    assert Path(out["backup"]["path"]).exists() and out["backup"]["restore_command"]
    assert digest(tmp_path / "shop.db") == before  # the source is never written
    copy = f"sqlite:///{tmp_path / 'shop_rehearsal.db'}"
    assert shopmig.current_revision(copy) == shopmig.revisions()[-1]
    assert shopmig.database_marker(copy)["role"] == "copy"


def test_round_trip_returns_every_row_on_each_backend(demo_url, backend, make_url,  # type: ignore[no-untyped-def]
                                                      tmp_path) -> None:
    copy_to = make_url(backend)
    result = small_rehearsal(demo_url, copy_to, tmp_path)
    assert result.ok, result.summary()
    assert result.roundtrip_ok is True and result.lost_writes == 0
    assert result.roundtrip_verification is not None
    rt = result.roundtrip_verification
    assert rt.expectation_failures.empty  # every status is 'pending' again after the round trip
    assert rt.missing.empty  # no pre-existing row was lost
    assert shopmig.current_revision(demo_url) == shopmig.revisions()[0]
    assert shopmig.verify(shopmig.demo_orders(300, seed=7), demo_url).ok  # source untouched


def test_failing_step_stops_at_previous_revision_and_says_why(demo_url, backend, make_url,  # type: ignore[no-untyped-def]
                                                             tmp_path, capsys) -> None:
    shopmig.upgrade(demo_url, "0002")
    # many rows, so that the workload's own status updates cannot happen to fix them all
    # ('%%' is LIKE's '%' for every driver: psycopg reads '%' as a placeholder)
    execute(demo_url, "UPDATE orders SET status = 'lost' WHERE order_id LIKE '%%5'")
    shopmig.mark_database(demo_url, "demo")
    copy_to = make_url(backend)
    result = small_rehearsal(demo_url, copy_to, tmp_path, roundtrip=False)
    failing = "0004" if backend == "postgresql" else "0003"
    assert not result.ok and result.failure and failing in result.failure
    reason = {"sqlite": "break the rule it adds",  # shopmig's own count of the bad rows
              "postgresql": "is violated by some row",  # VALIDATE CONSTRAINT
              "mariadb": "ck_orders_status"}[backend]  # ALTER TABLE ... ADD CONSTRAINT
    assert reason in result.failure, result.failure
    assert not result.steps[-1].ok and result.steps[-1].revision.startswith(failing)
    assert shopmig.current_revision(copy_to) == result.end_revision
    assert result.end_revision.startswith("0003" if backend == "postgresql" else "0002")
    assert result.lost_writes == 0 and result.unexplained_differences == 0
    # a second run reuses the marked copy, resumes there, and fails the same way (exit 1)
    code = main(["rehearse", demo_url, "--copy-to", copy_to, "--rows-per-sec", "50",
                 "--duration", "30", "--no-backup", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert code == 1 and again["start_revision"] == result.end_revision
    assert failing in again["failure"]


def test_each_step_is_checked_right_after_it_ran(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A step that loses a row fails its own check (and every later one), not just the
    final one: verify_ok names the step where the data went wrong."""
    rehearse_module = importlib.import_module("shopmig.rehearsal.run")
    src = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(src, rows=500, seed=4)
    real = rehearse_module.upgrade

    def lossy_upgrade(url, revision, **kwargs):  # type: ignore[no-untyped-def]
        done = real(url, revision, **kwargs)
        if revision.startswith("0003"):
            execute(url, "DELETE FROM orders WHERE order_id = 'ORD-0000007'")
        return done

    monkeypatch.setattr(rehearse_module, "upgrade", lossy_upgrade)
    result = small_rehearsal(src, None, tmp_path, roundtrip=False)
    checks = {s.revision[:4]: s.verify_ok for s in result.steps}
    assert checks == {"0002": True, "0003": False, "0004": False, "0005": False}, checks
    assert not result.ok and result.unexplained_differences >= 1
    assert "check failed after step(s) 0003" in result.summary()


def test_workload_pause_holds_writes_and_does_not_burst_after(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(src, rows=200, seed=4)
    with shopmig.ShopWorkload(src, existing_keys=["ORD-0000001"], rows_per_sec=100,
                              duration_s=30) as workload:
        time.sleep(0.3)
        with workload.paused():
            held_from = workload.now()
            logged = len(workload.events)
            time.sleep(0.6)
            assert len(workload.events) == logged  # nothing written while paused
            held_to = workload.now()
        time.sleep(0.3)
    events = workload.frame()
    assert not ((events["started_s"] > held_from) & (events["started_s"] < held_to)).any()
    after = events[(events["started_s"] >= held_to) & (events["started_s"] < held_to + 0.3)]
    assert len(after) <= 0.3 * 100 + 5, len(after)  # on schedule, not the 60 missed writes


def test_copy_to_an_existing_database_that_is_not_a_copy_is_refused(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(src, rows=50)
    other = tmp_path / "precious.db"
    sqlite_exec(other, "CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount REAL)",
                "INSERT INTO orders VALUES ('KEEP', 1.0)")
    before = digest(other)
    code = main(["rehearse", src, "--copy-to", f"sqlite:///{other}", "--backup-dir",
                 str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("shopmig: error:")
    assert "neither a shopmig copy" in err[0]
    assert "--yes-this-is-not-a-copy" in err[0]
    assert digest(other) == before
    assert not (tmp_path / "b").exists()


def test_in_memory_source_cannot_be_rehearsed_from_a_url(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["rehearse", "sqlite://"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("shopmig: error:")


@pytest.mark.server
@pytest.mark.slow
def test_postgres_safe_plan_under_load_on_a_million_rows(make_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With the workload running on a 1M-row table, no safe step rewrites the table, no write
    fails and none is lost. How long writes stall is a figure, measured side by side with the
    naive way in ``benchmarks/status_step.py``, not a timed assertion on a noisy machine."""
    src = make_url("postgresql")
    shopmig.make_demo_shop(src, rows=1_000_000, seed=1)
    result = rehearse(src, copy_to=make_url("postgresql"), rows_per_sec=200, duration_s=120,
                      backup_dir=None)
    assert result.ok, result.summary()
    assert result.committed_writes > 50
    for step in result.steps:
        assert step.rewrites_table is False, step.revision
        assert step.failed_writes == 0, (step.revision, step.error)
