"""Run the walkthrough notebooks headless and write each executed notebook plus an HTML copy.

Uses papermill, so each notebook's tagged ``parameters`` cell receives ``DATABASE_URL`` when a
URL is given; nbconvert renders the HTML. Requires the ``notebooks`` extra.
"""

from __future__ import annotations

from pathlib import Path

from shopmig.errors import DatabaseError, InvalidArgumentError


def notebook_paths(folder: str | Path) -> list[Path]:
    """The numbered notebooks in ``folder`` (``01_*.ipynb``, ``02_*.ipynb``, ...), in order."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidArgumentError("notebooks folder", str(folder), "an existing folder")
    return sorted(p for p in root.glob("[0-9][0-9]_*.ipynb"))


def run_notebooks(
    folder: str | Path, out: str | Path, *, url: str | None = None, timeout_s: int = 600
) -> list[Path]:
    """Execute every numbered notebook in ``folder`` into ``out``; return the HTML paths.

    With ``url`` the notebooks run against that database (papermill parameter ``DATABASE_URL``);
    otherwise each uses the scratch database its parameters cell names.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from shopmig.teach.kernels import notebook_client_options

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"DATABASE_URL": url} if url else {}
    written = []
    for nb_path in notebook_paths(folder):
        executed = out_dir / nb_path.name
        try:
            papermill.execute_notebook(
                str(nb_path), str(executed), parameters=params, cwd=str(nb_path.parent),
                progress_bar=False, execution_timeout=timeout_s, kernel_name="python3",
                **notebook_client_options(),  # local sockets: no unencrypted-TCP warning
            )
        except papermill.PapermillExecutionError as exc:
            raise DatabaseError(url or "(notebook default)",
                                f"notebook {nb_path.name} failed in cell {exc.exec_count}: "
                                f"{exc.ename}: {exc.evalue}",
                                hint=f"Open {executed} to see the failing cell.") from None
        body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
        html_path = executed.with_suffix(".html")
        html_path.write_text(body, encoding="utf-8")
        written.append(html_path)
    return written
