"""The package's shape: one place per database, lazy imports, no module shadowing.

Everything that differs between SQLite, PostgreSQL and MariaDB/MySQL lives in
``shopmig/dialects/``; the rest of the package asks ``dialect_for(conn)``. These tests read the
source (ast) to keep it so.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "shopmig"
NAMES = {"sqlite", "sqlite3", "postgresql", "postgres", "pg", "mysql", "mariadb"}


def _outside_dialects() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "dialects" not in p.parts)


def _names_in(node: ast.AST) -> set[str]:
    """Database names among the constants of ``node`` (a literal or a tuple/list/set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value.lower()} & NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    return set()


def database_name_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, what) for every comparison with a database name, every ``is_mariadb`` and every
    ``.dialect.name`` / ``get_backend_name()`` compared with anything."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for part in (node.left, *node.comparators):
                if _names_in(part):
                    found.append((node.lineno, f"compares with {sorted(_names_in(part))}"))
                if isinstance(part, ast.Attribute) and part.attr == "name" and isinstance(
                        part.value, ast.Attribute) and part.value.attr == "dialect":
                    found.append((node.lineno, "compares .dialect.name"))
                if isinstance(part, ast.Call) and isinstance(part.func, ast.Attribute) and (
                        part.func.attr == "get_backend_name"):
                    found.append((node.lineno, "compares get_backend_name()"))
        if isinstance(node, ast.Attribute) and node.attr == "is_mariadb":
            found.append((node.lineno, "reads is_mariadb"))
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None and _names_in(key):
                    found.append((node.lineno, f"maps {sorted(_names_in(key))}"))
    return found


def test_the_checker_finds_each_kind_of_comparison() -> None:
    source = (
        "a = conn.dialect.name == 'postgresql'\n"
        "b = url.get_backend_name() != x\n"
        "c = name in ('mysql', 'mariadb')\n"
        "d = conn.dialect.is_mariadb\n"
        "e = {'sqlite': 1}[name]\n"
        "f = name == 'orders'\n"
    )
    assert [line for line, _ in database_name_comparisons(source)] == [1, 1, 2, 3, 4, 5]


def test_no_database_name_comparison_outside_dialects() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): database_name_comparisons(path.read_text())
        for path in _outside_dialects()
    }
    offenders = {path: hits for path, hits in offenders.items() if hits}
    assert offenders == {}, "per-database knowledge belongs in shopmig/dialects/"


def test_no_module_shadows_the_standard_library_or_an_exported_function() -> None:
    import shopmig

    stdlib = set(sys.stdlib_module_names)
    modules = {p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in PACKAGE.rglob("*") if p.is_dir() and (p / "__init__.py").exists()}
    assert modules & stdlib == set()
    assert modules & set(shopmig.__all__) == set()


@pytest.mark.parametrize("command", [["--help"], ["verify", "--help"]])
def test_the_command_line_starts_without_the_heavy_libraries(command: list[str]) -> None:
    """``shopmig --help`` must not import pandas, Alembic, SQLAlchemy or matplotlib."""
    code = ("import sys, runpy; sys.argv = ['shopmig', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('shopmig', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('pandas', 'alembic', 'sqlalchemy', 'matplotlib', 'numpy')"
            " if m in sys.modules)\nprint('HEAVY:' + ','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_import_shopmig_is_lazy() -> None:
    code = ("import sys, shopmig; print(','.join(sorted(m for m in ('pandas', 'alembic', "
            "'sqlalchemy', 'matplotlib') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""
    names = subprocess.run([sys.executable, "-c", "import shopmig; print(callable(shopmig.verify),"
                            " callable(shopmig.upgrade), shopmig.exercises.__name__)"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert names == ["True", "True", "shopmig.teach.exercises"]


def test_every_dialect_answer_lives_on_its_dialect_class() -> None:
    """A per-database answer written inside another class (a merge that left a method under
    a helper class) is silently never asked: the base class's default answers instead."""
    from shopmig.dialects import DIALECTS
    from shopmig.dialects.base import Dialect, DumpRewriter

    asked = {name for name in vars(Dialect) if not name.startswith("__")}
    for module in {cls.__module__ for cls in DIALECTS}:
        tree = ast.parse((PACKAGE.parent / (module.replace(".", "/") + ".py")).read_text())
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or node.name in {c.__name__ for c in DIALECTS}:
                continue
            defined = {n.name for n in node.body
                       if isinstance(n, ast.FunctionDef | ast.AnnAssign | ast.Assign)
                       and isinstance(getattr(n, "name", None), str)}
            defined |= {t.target.id for t in node.body
                        if isinstance(t, ast.AnnAssign) and isinstance(t.target, ast.Name)}
            strays = (defined & asked) - set(vars(DumpRewriter))
            assert not strays, f"{module}.{node.name} defines Dialect answers: {sorted(strays)}"
