"""Run the walkthrough notebooks headless and write each executed notebook plus an HTML copy.

Uses papermill to execute and nbconvert to render the HTML. Requires the ``notebooks`` extra.

A database URL never reaches a file: the kernel gets it in the environment variable
``SHOPMIG_NOTEBOOK_URL``, which every notebook's tagged ``parameters`` cell reads, so nothing is
injected into the notebook. Every text of every executed notebook (sources, outputs, errors,
metadata) is scrubbed of the URL's password before it is written, also when a run fails, and
when a URL is in play the files are created readable by their owner only (0600).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shopmig.errors import DatabaseError, InvalidArgumentError

URL_ENV_VAR = "SHOPMIG_NOTEBOOK_URL"
"""The environment variable the notebooks' parameters cells read their database URL from."""
PRIVATE_MODE = 0o600


def notebook_paths(folder: str | Path) -> list[Path]:
    """The numbered notebooks in ``folder`` (``01_*.ipynb``, ``02_*.ipynb``, ...), in order."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidArgumentError("notebooks folder", str(folder), "an existing folder")
    return sorted(p for p in root.glob("[0-9][0-9]_*.ipynb"))


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` while the block runs (kernels started in it inherit it)."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _private(path: Path) -> None:
    """Make ``path`` exist with mode 0600 before anything is written into it (writers that
    truncate an existing file keep its mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)


_BINARY_PREFIXES = ("image/", "application/pdf")


def scrub_notebook(node: Any, secrets: list[str]) -> Any:
    """Every string in a notebook (sources, outputs, tracebacks, metadata) with URL passwords
    masked and ``secrets`` replaced by ``***``; binary outputs (images) are left as they are."""
    from shopmig.masking import scrub

    if isinstance(node, str):
        return scrub(node, secrets)
    if isinstance(node, list):
        return [scrub_notebook(item, secrets) for item in node]
    if isinstance(node, dict):
        return {key: value if str(key).startswith(_BINARY_PREFIXES)
                else scrub_notebook(value, secrets) for key, value in node.items()}
    return node


def _scrub_file(path: Path, secrets: list[str], private: bool) -> None:
    """Rewrite an executed notebook with its secrets scrubbed (if papermill wrote it)."""
    import nbformat

    if not path.exists() or path.stat().st_size == 0:
        return
    nb = nbformat.read(path, as_version=4)
    clean = nbformat.from_dict(scrub_notebook(dict(nb), secrets))
    if private:
        _private(path)
    nbformat.write(clean, path)


def run_notebooks(
    folder: str | Path, out: str | Path, *, url: str | None = None, timeout_s: int = 600
) -> list[Path]:
    """Execute every numbered notebook in ``folder`` into ``out``; return the HTML paths.

    With ``url`` the notebooks run against that database (the kernel reads it from
    ``$SHOPMIG_NOTEBOOK_URL``); otherwise each uses the scratch database its parameters cell
    names. No password is written to any file, also when a notebook fails.
    """
    from shopmig import validate
    from shopmig.db import mask_url, url_secrets
    from shopmig.masking import scrub

    paths = notebook_paths(folder)
    out_dir = validate.writable_dir(out, "out")
    if url is not None:
        validate.database_url(url, "url")
    effective = url if url is not None else os.environ.get(URL_ENV_VAR)
    secrets = url_secrets(effective)
    private = effective is not None

    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from shopmig.teach.kernels import notebook_client_options

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with _environment(URL_ENV_VAR, url):
        for nb_path in paths:
            executed = out_dir / nb_path.name
            if private:
                _private(executed)
            failure = None
            try:
                papermill.execute_notebook(
                    str(nb_path), str(executed), cwd=str(nb_path.parent),
                    progress_bar=False, execution_timeout=timeout_s, kernel_name="python3",
                    **notebook_client_options(),  # local sockets: no unencrypted-TCP warning
                )
            except papermill.PapermillExecutionError as exc:
                failure = f"notebook {nb_path.name} failed in cell {exc.exec_count}: " \
                          f"{exc.ename}: {exc.evalue}"
            finally:
                if executed.exists() and executed.stat().st_size == 0:
                    executed.unlink()  # made private above, never written
                _scrub_file(executed, secrets, private)
            if failure is not None:
                raise DatabaseError(mask_url(effective) if effective else "(notebook default)",
                                    scrub(failure, secrets),
                                    hint=f"Open {executed} to see the failing cell.")
            body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
            html_path = executed.with_suffix(".html")
            if private:
                _private(html_path)
            html_path.write_text(body, encoding="utf-8")
            written.append(html_path)
    return written
