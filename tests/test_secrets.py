"""No secret on disk: ``shopmig notebooks --url`` and ``rehearse --report``/``--json`` never
write a password, also when a run fails, and the files that could hold one are private (0600).

Each test greps every byte of every file the command wrote (and its output) for the password
in every spelling (raw, percent-encoded, ``+`` for space).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import nbformat
import pytest
from conftest import server_base_url

import shopmig
from shopmig.cli import main
from shopmig.db import parse_url
from shopmig.teach.notebooks import scrub_notebook

PASSWORD = "S3cr3t pw/x"
FORMS = [PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD, safe=""), "S3cr3t"]
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def grep(root: Path, *texts: str) -> list[str]:
    """Every file under ``root`` whose bytes hold any of ``texts`` (or a form of the
    password)."""
    needles = [t.encode() for t in (*FORMS, *texts)]
    return sorted(str(p) for p in root.rglob("*")
                  if p.is_file() and any(n in p.read_bytes() for n in needles))


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def _notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell(
        'import os\nDATABASE_URL = os.environ.get("SHOPMIG_NOTEBOOK_URL", "sqlite://")')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, path)


@pytest.fixture
def leaky_notebooks(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """Two notebooks that try hard to leak the URL: one prints it raw and shows it as a
    value; the other also raises an error carrying it."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    leak = ("import shopmig\nprint(shopmig.mask_url(DATABASE_URL))",
            "print(DATABASE_URL)\nDATABASE_URL")
    _notebook(folder / "01_prints.ipynb", *leak)
    _notebook(folder / "02_fails.ipynb", *leak, "raise ValueError(DATABASE_URL)")
    return folder


def _url(database: str = "shopmig_never_made") -> str:
    return (parse_url("postgresql+psycopg://postgres@127.0.0.1:5432/x")
            .set(password=PASSWORD, database=database).render_as_string(hide_password=False))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--url", "environment"])
def test_notebooks_never_write_the_password(leaky_notebooks, tmp_path, capsys, monkeypatch,
                                            how) -> None:
    out = tmp_path / "out"
    args = ["notebooks", "--notebooks", str(leaky_notebooks), "--out", str(out)]
    if how == "--url":
        args += ["--url", _url()]
    else:  # the user's own environment names the database: same care
        monkeypatch.setenv("SHOPMIG_NOTEBOOK_URL", _url())
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2  # the second notebook fails, on purpose
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("shopmig: error:"), captured.err
    assert "02_fails.ipynb failed" in lines[0] and "ValueError" in lines[0]
    assert not any(f in captured.out + captured.err for f in FORMS)
    written = sorted(p.name for p in out.iterdir())
    assert written == ["01_prints.html", "01_prints.ipynb", "02_fails.ipynb"]
    assert grep(out) == []  # the grep: no password in any file, run or failed
    assert all(private(out / name) for name in written)
    ran = nbformat.read(out / "01_prints.ipynb", as_version=4)
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in ran.cells)
    assert ran.metadata["papermill"]["parameters"] == {}
    printed = "".join(o.get("text", "") for c in ran.cells for o in c.get("outputs", []))
    assert printed.count("postgres:***@127.0.0.1:5432/shopmig_never_made") == 2  # masked
    assert os.environ.get("SHOPMIG_NOTEBOOK_URL") == (None if how == "--url" else _url())


@pytest.mark.slow
def test_notebooks_without_a_url_keep_their_files_as_they_were(leaky_notebooks, tmp_path,
                                                               capsys, monkeypatch) -> None:
    monkeypatch.delenv("SHOPMIG_NOTEBOOK_URL", raising=False)
    (leaky_notebooks / "02_fails.ipynb").unlink()
    out = tmp_path / "out"
    assert main(["notebooks", "--notebooks", str(leaky_notebooks), "--out", str(out)]) == 0
    assert not private(out / "01_prints.ipynb")  # no URL, nothing secret: the usual mode
    ran = nbformat.read(out / "01_prints.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in ran.cells for o in c.get("outputs", []))
    assert "sqlite://" in printed


def test_scrub_notebook_masks_text_and_leaves_images() -> None:
    image = "iVBORw0KGgoS3cr3t pw/x"  # base64-ish data that happens to hold the text
    nb = {"cells": [{"source": f"url = 'postgresql://u:{PASSWORD}@h/db'",
                     "outputs": [{"text": f"connecting with {PASSWORD}",
                                  "data": {"text/plain": quote(PASSWORD, safe=""),
                                           "image/png": image}}]}],
          "metadata": {"papermill": {"parameters": {"DATABASE_URL": f"x://u:{PASSWORD}@h"}}}}
    clean = scrub_notebook(nb, [PASSWORD])
    text = json.dumps({**clean, "cells": [{**clean["cells"][0], "outputs": [
        {**clean["cells"][0]["outputs"][0], "data": {
            "text/plain": clean["cells"][0]["outputs"][0]["data"]["text/plain"]}}]}]})
    assert not any(f in text for f in FORMS)
    assert clean["cells"][0]["source"] == "url = 'postgresql://u:***@h/db'"
    assert clean["cells"][0]["outputs"][0]["data"]["image/png"] == image


@pytest.mark.slow
@pytest.mark.server
def test_a_real_notebook_on_postgresql_writes_no_password(tmp_path, capsys) -> None:
    server_base_url("postgresql")
    folder = tmp_path / "nbs"
    folder.mkdir()
    shutil.copy(NOTEBOOKS / "01_inspect_orders.ipynb", folder)
    url = _url(f"shopmig_nbpw_{uuid.uuid4().hex[:8]}")  # trust authentication: accepted
    out = tmp_path / "out"
    assert main(["notebooks", "--notebooks", str(folder), "--out", str(out), "--url", url]) == 0
    assert grep(out) == [] and grep(folder) == []
    assert all(private(p) for p in out.iterdir())
    scratch = parse_url(url).set(database=parse_url(url).database + "__shopmig_nb01")
    assert not shopmig.database_exists(scratch)  # the notebook dropped its scratch database
    assert not any(f in "".join(capsys.readouterr()) for f in FORMS)


@pytest.mark.server
def test_rehearse_report_json_and_backup_hold_no_password(tmp_path, capsys,
                                                           monkeypatch) -> None:
    base = parse_url(server_base_url("postgresql"))
    name = f"shopmig_rpw_{uuid.uuid4().hex[:8]}"
    src = base.set(database=name, password=PASSWORD).render_as_string(hide_password=False)
    copy = base.set(database=name + "_copy", password=PASSWORD).render_as_string(
        hide_password=False)
    monkeypatch.chdir(tmp_path)
    shopmig.make_demo_shop(src, rows=200, seed=2)
    try:
        capsys.readouterr()
        code = main(["rehearse", src, "--copy-to", copy, "--rows-per-sec", "20", "--duration",
                     "20", "--report", "report.html", "--backup-dir", "backups", "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        result = json.loads(out)
        assert result["ok"] is True and result["backup"]["path"].startswith(str(tmp_path))
        assert not any(f in out + err for f in FORMS)
        assert ":***@" in result["source"]
        assert grep(tmp_path) == []  # report, backup file: no password in any byte
        assert private(tmp_path / "report.html")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "report.html"]
    finally:
        shopmig.drop_database(copy)
        shopmig.drop_database(src)
