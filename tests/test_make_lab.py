"""``make lab`` passes LAB_ARGS to JupyterLab and, as root (a container), adds --allow-root once."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "lab", *args], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    lines = [ln for ln in out.stdout.splitlines() if "jupyter lab" in ln]
    assert len(lines) == 1, out.stdout
    return lines[0]


def test_lab_args_reach_jupyter_lab() -> None:
    line = _dry_run("LAB_ARGS=--no-browser --port 8899")
    assert line.split().count("--no-browser") == 1 and "--port 8899" in line
    assert "--notebook-dir=notebooks" in line  # learners open notebooks/, not facilitator/


def test_root_gets_allow_root_once() -> None:
    as_root = os.geteuid() == 0
    line = _dry_run("LAB_ARGS=--no-browser")
    assert ("--allow-root" in line) is as_root
    line = _dry_run("LAB_ARGS=--allow-root --no-browser")
    assert line.split().count("--allow-root") == 1
