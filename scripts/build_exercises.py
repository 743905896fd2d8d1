"""Build the learner and solution exercise notebooks from their one source, so they never drift.

Source: ``facilitator/exercises_source.ipynb``. In its code cells, the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` are the answer (nbgrader's markers):

- ``notebooks/exercises/exercises_learner.ipynb`` (what learners open in Lab and see on the
  site) replaces each marked block with ``raise NotImplementedError("your turn")`` (same
  indentation) and leaves out the cells tagged ``solution-only``; no outputs.
- ``facilitator/exercises_solution.ipynb`` keeps the answers (markers removed) and leaves out
  the cells tagged ``learner-only``; it is executed on SQLite and recorded with its outputs
  like the numbered notebooks (``scripts/record_notebooks.py``), so nbval can run it in strict
  mode (``tests/test_exercises.py``).

Both the source and the solution live in ``facilitator/``, outside ``notebooks/``: ``make lab``
opens ``notebooks/`` and ``make site`` publishes it, so learners see no solution.

Usage::

    python scripts/build_exercises.py             # write both, execute and record the solution
    python scripts/build_exercises.py --no-record # write both, solution without outputs
    python scripts/build_exercises.py --check     # exit 1 if the committed files have drifted
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks" / "exercises"
FACILITATOR = ROOT / "facilitator"
SOURCE = FACILITATOR / "exercises_source.ipynb"
LEARNER = FOLDER / "exercises_learner.ipynb"
SOLUTION = FACILITATOR / "exercises_solution.ipynb"

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
PLACEHOLDER = 'raise NotImplementedError("your turn")'
SOLUTION_ONLY = "solution-only"
LEARNER_ONLY = "learner-only"

_BLOCK = re.compile(rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}[ \t]*\n.*?^[ \t]*{re.escape(END)}"
                    r"[ \t]*$", re.M | re.S)
_MARKER = re.compile(rf"^[ \t]*(?:{re.escape(BEGIN)}|{re.escape(END)})[ \t]*\n?", re.M)


def learner_source(source: str) -> str:
    """``source`` with every marked solution block replaced by the placeholder ``raise``."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"unbalanced solution markers in cell:\n{source}")
    return _BLOCK.sub(lambda m: f"{m['indent']}{PLACEHOLDER}", source)


def solution_source(source: str) -> str:
    """``source`` with the marker lines removed and the answers kept."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"unbalanced solution markers in cell:\n{source}")
    return _MARKER.sub("", source).rstrip("\n")


def _blank(cell: NotebookNode) -> NotebookNode:
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.metadata.pop("execution", None)
    return cell


def build(source: NotebookNode) -> tuple[NotebookNode, NotebookNode]:
    """The (learner, solution) notebooks for ``source``, both without outputs."""
    learner, solution = copy.deepcopy(source), copy.deepcopy(source)
    learner.cells, solution.cells = [], []
    for cell in source.cells:
        tags = cell.metadata.get("tags", [])
        if LEARNER_ONLY not in tags:
            sol = _blank(cell)
            if cell.cell_type == "code":
                sol.source = solution_source(cell.source)
            solution.cells.append(sol)
        if SOLUTION_ONLY in tags:
            continue
        lrn = _blank(cell)
        if cell.cell_type == "code":
            lrn.source = learner_source(cell.source)
        learner.cells.append(lrn)
    for nb in (learner, solution):
        nb.metadata["language_info"] = {"name": "python"}
    return learner, solution


def _as_json(nb: NotebookNode) -> object:
    return json.loads(nbformat.writes(nb))


def _without_outputs(nb: NotebookNode) -> object:
    return _as_json(nbformat.from_dict({**nb, "cells": [_blank(c) for c in nb.cells]}))


def drift(source_path: Path = SOURCE, learner_path: Path = LEARNER,
          solution_path: Path = SOLUTION) -> list[str]:
    """What differs between the committed notebooks and what ``source_path`` generates.

    The learner notebook must be identical; the solution notebook must have the same cells
    (its outputs are checked by nbval, not here). Empty when nothing has drifted.
    """
    learner, solution = build(nbformat.read(source_path, as_version=4))
    problems = []
    if not learner_path.exists() or _as_json(nbformat.read(learner_path, as_version=4)) != \
            _as_json(learner):
        problems.append(f"{learner_path.relative_to(ROOT)} differs from its source")
    if not solution_path.exists() or _without_outputs(
            nbformat.read(solution_path, as_version=4)) != _without_outputs(solution):
        problems.append(f"{solution_path.relative_to(ROOT)} differs from its source")
    return problems


def write(*, record_solution: bool = True) -> None:
    """Write the learner and solution notebooks; execute and record the solution if asked."""
    learner, solution = build(nbformat.read(SOURCE, as_version=4))
    nbformat.write(learner, LEARNER)
    print(f"wrote {LEARNER.relative_to(ROOT)}")
    nbformat.write(solution, SOLUTION)
    print(f"wrote {SOLUTION.relative_to(ROOT)}")
    if record_solution:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from record_notebooks import record

        record(SOLUTION)


def main(argv: list[str] | None = None) -> int:
    """Command line: build (default), ``--no-record`` or ``--check``; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare the committed notebooks with the source")
    parser.add_argument("--no-record", action="store_true",
                        help="do not execute the solution notebook")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for problem in problems:
            print(f"drift: {problem} (run: make exercises)", file=sys.stderr)
        return 1 if problems else 0
    write(record_solution=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
