"""``shopmig notebooks`` runs every notebook headless and writes .ipynb + .html for each."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from shopmig.cli import main
from shopmig.teach.notebooks import notebook_paths

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
def test_notebooks_command_runs_every_notebook(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["notebooks", "--notebooks", str(NOTEBOOKS), "--out", str(out)]) == 0
    names = [p.stem for p in notebook_paths(NOTEBOOKS)]
    assert len(names) >= 3
    assert sorted(p.stem for p in out.glob("*.html")) == names
    for name in names:
        nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.get("execution_count") for c in code), name
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert errors == [], name
        assert "Traceback" not in (out / f"{name}.html").read_text(encoding="utf-8")
    assert capsys.readouterr().out.count("ran ") == len(names)


def test_notebooks_command_missing_folder_is_exit_2(tmp_path, capsys) -> None:
    assert main(["notebooks", "--notebooks", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("shopmig: error:")
