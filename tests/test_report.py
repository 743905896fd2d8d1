"""The rehearsal report tells one truth: its first line is the JSON's headline, a successful
rehearsal shows no red, the workload's own writes are explained (never "DIFFERENCES FOUND"),
failed writes show their error text, every time is in ms, nothing reads None or NaN, and the
page fits a wide and a narrow window in headless Chromium."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import execute

import shopmig
from shopmig.rehearsal.report import classify_differences, failed_write_errors
from shopmig.rehearsal.run import Rehearsal

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
WIDTHS = (1400, 480)


def _rehearse(tmp_path: Path, *, broken: bool = False) -> Rehearsal:
    src = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(src, rows=1_500, seed=4)
    if broken:  # a status the CHECK of 0003 refuses: the rehearsal fails at 0003
        shopmig.upgrade(src, "0002")
        execute(src, "UPDATE orders SET status = 'lost' WHERE order_id = 'ORD-0000005'")
        shopmig.mark_database(src, "demo")
    return shopmig.rehearse(src, rows_per_sec=60, duration_s=30,
                            backup_dir=tmp_path / "backups", roundtrip=not broken)


def _filled(r: Rehearsal) -> Rehearsal:
    """The header fields the rehearsal run records (filled here as the run will)."""
    return dataclasses.replace(
        r, started_at="2025-01-31T10:00:00+00:00", server_version="SQLite 3.40.1",
        rows_per_sec=60.0, duration_s=30.0, options=shopmig.MigrationOptions().to_dict())


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Rehearsal:
    return _rehearse(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Rehearsal:
    return _rehearse(tmp_path_factory.mktemp("failed"), broken=True)


def _text(page: str) -> str:
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    body = re.sub(r"<img\b[^>]*>", " ", body)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _first_line(page: str) -> str:
    match = re.search(r"<h1\b[^>]*>(.*?)</h1>", page, flags=re.S)
    assert match, page[:500]
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def _oks(data: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every ``ok`` in a JSON document, with where it is."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "ok":
                found.append((path or "/", value))
            found += _oks(value, f"{path}/{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _oks(value, f"{path}/{i}")
    return found


# ------------------------------------------------------------------ one truth


def test_a_successful_rehearsal_says_ok_everywhere_and_shows_no_red(good: Rehearsal) -> None:
    assert good.ok, good.summary()
    data = json.loads(json.dumps(good.to_dict(), default=str))
    assert [v for _, v in _oks(data)] and all(v is True for _, v in _oks(data)), _oks(data)
    page = good.to_html()
    assert _first_line(page) == data["headline"] and data["headline"].startswith("REHEARSAL OK")
    assert "class='bad'" not in page and 'class="bad"' not in page
    assert "DIFFERENCES FOUND" not in page
    # the workload's own writes are there, as expected changes with their reason
    assert data["verification"]["identical"] is False
    assert data["verification"]["explained_by_workload"] > 0
    assert data["verification"]["unexplained"] == 0
    assert "Changes made by the workload itself (expected)" in page
    assert "inserted by the workload" in page


def test_a_failed_rehearsal_says_why_in_its_first_line(failed: Rehearsal) -> None:
    assert not failed.ok
    data = json.loads(json.dumps(failed.to_dict(), default=str))
    line = _first_line(failed.to_html())
    assert line == data["headline"] and line.startswith("REHEARSAL FAILED: ")
    assert data["reasons"] and line.startswith(
        f"REHEARSAL FAILED: {data['reasons'][0].rstrip('. ')}")
    assert "0003" in data["reasons"][0]
    assert data["ok"] is False
    # every ok that is True names its own scope; the top-level one agrees with the headline
    assert dict(_oks(data))["/"] is False


def test_the_header_carries_date_versions_workload_and_timeouts(good: Rehearsal) -> None:
    page = _filled(good).to_html()
    text = _text(page)
    for needle in ("2025-01-31T10:00:00+00:00", f"shopmig {shopmig.__version__}",
                   "SQLite 3.40.1", "60 writes/s", "30 s at most", "2,000 ms", "600,000 ms",
                   "retries after a lock timeout"):
        assert needle in text, needle
    data = _filled(good).to_dict()
    assert data["rows_per_sec"] == 60.0 and data["options"]["lock_timeout_s"] == 2.0
    # a real run records them itself; a result without them says so in words
    assert good.started_at and (good.server_version or "").startswith("SQLite 3.")
    assert good.rows_per_sec is not None and good.options is not None
    bare = _text(dataclasses.replace(good, rows_per_sec=None, options=None,
                                     started_at=None).to_html())
    assert "not recorded" in bare and good.to_dict()["created_at"] in bare


def test_no_none_or_nan_and_times_in_ms(good: Rehearsal, failed: Rehearsal) -> None:
    for r in (good, failed, _filled(good)):
        text = _text(r.to_html())
        assert not re.search(r"\b(None|NaN|nan|null)\b", text), re.search(
            r".{40}\b(None|NaN|nan|null)\b.{40}", text)
        assert "(ms)" in text and not re.search(r"\b[a-z_]+_s\b", text)  # no raw field names
        assert " s," not in text.split("Steps")[-1].split("Failed writes")[0]


def test_failed_writes_show_their_error_text(good: Rehearsal) -> None:
    failures = pd.DataFrame([
        {"started_s": 1.0 + i / 10, "latency_s": 2.0, "kind": "insert", "key": f"W-9-{i}",
         "amount": 1.0, "status": None, "ok": False, "error": error}
        for i, error in enumerate(["database is locked"] * 3 + ["deadlock detected"])])
    events = pd.concat([good.events, failures], ignore_index=True)
    r = dataclasses.replace(good, events=events, failed_writes=4)
    groups = failed_write_errors(events)
    assert [(g["error"], g["count"]) for g in groups] == [("database is locked", 3),
                                                          ("deadlock detected", 1)]
    assert {g["kind"] for g in groups} <= {"lock", "workload", "unknown"}
    assert r.to_dict()["failed_write_errors"] == groups
    text = _text(r.to_html())
    assert "database is locked" in text and "deadlock detected" in text
    assert "class='bad'" not in r.to_html()  # failed writes alone: a warning, not a failure


def test_unexplained_differences_are_red_and_named(good: Rehearsal) -> None:
    assert good.verification is not None
    missing = pd.concat([good.verification.missing,
                         pd.DataFrame({"order_id": ["ORD-9999999"], "amount": [1.0]})])
    broken = dataclasses.replace(good.verification, missing=missing)
    classified = classify_differences(broken, good.events)
    lost = classified[classified["key"] == "ORD-9999999"]
    assert lost["explained"].tolist() == [False]
    assert classified.loc[classified["key"] != "ORD-9999999", "explained"].all()
    r = dataclasses.replace(good, verification=broken, unexplained_differences=1)
    page = r.to_html()
    assert not r.ok and _first_line(page).startswith("REHEARSAL FAILED: 1 difference(s)")
    assert "ORD-9999999" in _text(page) and "nothing explains" in _text(page)
    assert r.to_dict()["verification"]["ok"] is False


def test_round_trip_steps_are_timed_when_recorded(good: Rehearsal) -> None:
    down = dataclasses.replace(good.steps[0], direction="down", phase="roundtrip",
                               seconds=0.0123, verify_ok=None)
    r = dataclasses.replace(good, roundtrip_steps=[down])
    text = _text(r.to_html())
    assert "12" in text.split("Round trip")[-1] and r.to_dict()["roundtrip_steps"][0][
        "seconds"] == 0.0123
    # a real run times its round trip: one step each way per revision it moved
    assert [s.direction for s in good.roundtrip_steps] == ["down"] * 4 + ["up"] * 4
    assert all(s.seconds > 0 for s in good.roundtrip_steps)
    assert "were not timed" in _text(dataclasses.replace(good, roundtrip_steps=[]).to_html())


# ------------------------------------------------------------------ headless Chromium


def _chromium() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


PROBE = """<script>
window.addEventListener('load', function () {
  var d = document.documentElement;
  document.body.setAttribute('data-probe', JSON.stringify({
    scroll: d.scrollWidth, client: d.clientWidth,
    wide: Array.from(document.querySelectorAll('table, pre, img')).filter(
      function (e) { return e.getBoundingClientRect().right > d.clientWidth + 1; }).length,
    headline: document.querySelector('h1').textContent,
    red: document.querySelectorAll('.bad').length}));
});
</script>"""


def _measure(page: str, width: int, tmp_path: Path) -> dict[str, Any]:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    path = tmp_path / f"report-{width}.html"
    path.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp_path / f"profile-{width}"
    run = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                          f"--window-size={width},900", "--virtual-time-budget=3000",
                          "--dump-dom", path.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    match = re.search(r'data-probe="([^"]*)"', run.stdout)
    assert match, run.stdout[:500]
    return json.loads(html.unescape(match.group(1)))


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_fits_the_page_and_its_headline_is_the_json(
        good: Rehearsal, failed: Rehearsal, width: int, tmp_path: Path) -> None:
    for r in (_filled(good), failed):
        probe = _measure(r.to_html(), width, tmp_path)
        assert probe["scroll"] <= probe["client"], (width, probe)
        assert probe["wide"] == 0, (width, probe)
        assert probe["headline"].strip() == r.to_dict()["headline"]
        assert (probe["red"] == 0) is r.ok, probe
