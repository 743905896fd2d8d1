"""Re-execute the notebooks in place and strip volatile metadata, so nbval (strict) can
compare the committed outputs with what the code produces now.

Usage: python scripts/record_notebooks.py [notebooks/01_*.ipynb ...]   (default: all of them)
Run it with the pinned environment (``make record``) whenever the code changes an output.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from shopmig.teach.kernels import notebook_client_options

ROOT = Path(__file__).resolve().parents[1]


def record(path: Path) -> None:
    """Execute ``path`` top to bottom on SQLite (the default parameters) and rewrite it."""
    nb = nbformat.read(path, as_version=4)
    env_url = os.environ.pop("SHOPMIG_NOTEBOOK_URL", None)  # outputs are recorded on SQLite
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}},
                       **notebook_client_options()).execute()
    finally:
        if env_url is not None:
            os.environ["SHOPMIG_NOTEBOOK_URL"] = env_url
    nb.metadata["language_info"] = {"name": "python"}
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nbformat.write(nb, path)
    print(f"recorded {path.relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    """Record the notebooks named in ``argv`` (default: every numbered notebook)."""
    paths = [Path(p).resolve() for p in argv]
    paths = paths or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        record(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
