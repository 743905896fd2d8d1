"""Build the walkthrough as a static site that works offline: ``build/site/index.html``.

Usage::

    python scripts/build_site.py [--out build/site] [--url URL] [--reuse DIR]       (make site)
    python scripts/build_site.py --facilitator [--out build/facilitator-site] ...
                                                                       (make facilitator-site)

Two builds. The **learner's site** (the default, what ``make demo`` and ``make site`` build and
what learners get) holds

- ``walkthrough/NN_*.html``: every numbered notebook in ``notebooks/``, executed now (with
  :func:`shopmig.notebooks.run_notebooks`, on in-memory SQLite unless ``--url`` names another
  database) or taken from ``--reuse DIR`` when an executed copy there is newer than its source;
- ``exercises/exercises_learner.html``: the learner version, executed (every check answers "not
  done yet": nothing is judged, no hint given, before the learner answers);
- ``index.html`` linking all of it. No solution and no facilitator's guide.

The **facilitator's site** (``--facilitator``) holds the same plus

- ``exercises/exercises_solution.html``: ``facilitator/exercises_solution.ipynb`` executed, each
  answer cell (tagged ``your-turn``) collapsed behind a "Show the solution" ``<details>``, the
  ``solution-only`` nbval asserts left out;
- ``facilitator_guide.html``, rendered from ``docs/facilitator_guide.md`` (links to
  ``.ipynb`` notebooks point at their pages).

Every page is self-contained: nbconvert's classic template without its CDN scripts (jQuery,
require.js, Mermaid, MathJax), images embedded, relative links only, so the folder can be
zipped, copied to a USB stick and opened from ``file://``. The build fails if a page would load
a remote script or stylesheet, or if a notebook fails or shows an error output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "sqlite://"
LEARNER, SOLUTION = "exercises_learner.ipynb", "exercises_solution.ipynb"
FACILITATOR = ROOT / "facilitator"  # the solutions: never under notebooks/, never on the
#                                     learner's site
# notebooks/exercises (scripts/build_exercises.py): the answer lives in the "your-turn" cells
# of the solution version; "solution-only" cells are its nbval asserts, not for readers
SOLUTION_TAGS = frozenset({"your-turn", "solution"})
HIDDEN_TAGS = frozenset({"injected-parameters",  # papermill's cell: may hold a server URL
                         "solution-only"})

# nbconvert's classic template minus every remote script, plus a link back to the index
OFFLINE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_css -%}
<style type="text/css">
nav.site { font: 14px/1.4 system-ui, sans-serif; margin: 0 0 1em 0; }
details.solution { border-left: 4px solid #2a7ae2; margin: 0.5em 0; padding-left: 0.5em; }
details.solution > summary { cursor: pointer; font: bold 14px system-ui, sans-serif;
  color: #2a7ae2; padding: 0.3em 0; }
</style>
{%- endblock html_head_css -%}
{% block rawcell scoped %}
{%- if cell.metadata.get('shopmig_site') -%}{{ cell.source }}{%- else -%}{{ super() }}{%- endif -%}
{%- endblock rawcell %}
{% block body_header %}
{{ super() }}
<nav class="site"><a href="{{ resources.site_root }}index.html">&larr; shopmig walkthrough</a>
</nav>
{% endblock body_header %}
"""

PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<style>
body {{ font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 52em;
  margin: 2em auto; padding: 0 1em; color: #222; }}
code, pre {{ font: 14px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }}
pre {{ background: #f6f8fa; padding: 0.8em; overflow-x: auto; }}
:not(pre) > code {{ background: #f0f0f0; padding: 0.1em 0.3em; border-radius: 3px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
nav.site {{ font-size: 14px; margin-bottom: 1.5em; }}
li {{ margin: 0.3em 0; }}
.muted {{ color: #666; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""

_REMOTE = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//"""
    r"""|\bimport\b[^;'"\n]*\bfrom\s*["'](?:https?:)?//""",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Page:
    """One page of the site: where it is (relative to the site root), its title and summary."""

    path: str
    title: str
    summary: str = ""


class SiteBuildError(RuntimeError):
    """The site cannot be built as asked (a notebook failed, a page would load remote assets)."""


# ------------------------------------------------------------------ helpers


def remote_includes(page_html: str) -> list[str]:
    """The remote scripts, stylesheets and module imports ``page_html`` would load (offline: [])."""
    return [m.group(0) for m in _REMOTE.finditer(page_html)]


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _markdown():  # type: ignore[no-untyped-def]
    import mistune

    class _Renderer(mistune.HTMLRenderer):
        """HTML with GitHub-style heading ids, so ``#anchors`` work as they do on GitHub."""

        def __init__(self) -> None:
            super().__init__(escape=False)
            self.seen: dict[str, int] = {}

        def heading(self, text: str, level: int, **attrs: object) -> str:
            plain = re.sub(r"<[^>]+>", "", text)
            slug = re.sub(r"[^\w\- ]", "", html.unescape(plain).lower()).strip().replace(" ", "-")
            n = self.seen.get(slug, 0)
            self.seen[slug] = n + 1
            anchor = f"{slug}-{n}" if n else slug
            return f'<h{level} id="{anchor}">{text}</h{level}>\n'

    return mistune.create_markdown(renderer=_Renderer(), plugins=["table", "strikethrough"])


def markdown_to_html(text: str) -> str:
    """Render Markdown (tables included) to an HTML fragment with ids on the headings."""
    return _markdown()(text)


def _plain(title: str) -> str:
    """A Markdown title as plain text for ``<title>`` (no backticks or emphasis marks)."""
    return re.sub(r"[`*]", "", title)


def _first_heading_and_paragraph(nb: dict) -> tuple[str, str]:
    """The first ``#`` heading of a notebook and the paragraph after it (Markdown source)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = "".join(cell.get("source", ""))
        heading = re.search(r"^#\s+(.+)$", source, re.MULTILINE)
        if not heading:
            continue
        rest = source[heading.end():].strip().split("\n\n")
        return heading.group(1).strip(), rest[0].strip() if rest and rest[0] else ""
    return "", ""


def _inline(markdown: str) -> str:
    """A one-paragraph Markdown snippet as inline HTML (no surrounding ``<p>``)."""
    out = markdown_to_html(markdown).strip()
    return re.sub(r"^<p>(.*)</p>$", r"\1", out, flags=re.DOTALL)


def _fresh(executed: Path, source: Path) -> bool:
    return executed.is_file() and executed.stat().st_mtime >= source.stat().st_mtime


# ------------------------------------------------------------------ executing


def execute_notebook(source: Path, executed: Path, url: str, timeout_s: int = 600) -> Path:
    """Execute ``source`` with papermill into ``executed`` (parameter ``DATABASE_URL=url``)."""
    import papermill

    from shopmig.teach.kernels import notebook_client_options

    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(source), str(executed), parameters={"DATABASE_URL": url},
            cwd=str(source.parent), progress_bar=False, execution_timeout=timeout_s,
            kernel_name="python3", **notebook_client_options(),
        )
    except papermill.PapermillExecutionError as exc:
        raise SiteBuildError(f"{source.name} failed in cell {exc.exec_count}: {exc.ename}: "
                             f"{exc.evalue} (see {executed})") from None
    return executed


def walkthrough_notebooks(
    notebooks: Path, work: Path, url: str, reuse: Path | None = None
) -> list[Path]:
    """The executed walkthrough notebooks, in order: reused from ``reuse`` if fresh, else run.

    Running reuses :func:`shopmig.notebooks.run_notebooks` (one papermill run per notebook).
    """
    from shopmig.teach.notebooks import notebook_paths, run_notebooks

    sources = notebook_paths(notebooks)
    if reuse is not None and all(_fresh(reuse / s.name, s) for s in sources):
        print(f"reusing the executed notebooks in {reuse}")
        return [reuse / s.name for s in sources]
    from shopmig.errors import ShopmigError

    try:
        run_notebooks(notebooks, work, url=url)
    except ShopmigError as exc:
        raise SiteBuildError(str(exc)) from None
    return [work / s.name for s in sources]


# ------------------------------------------------------------------ rendering


def _collapse_solutions(nb) -> int:  # type: ignore[no-untyped-def]
    """Wrap each run of solution-tagged cells in ``<details>``; return how many runs."""

    def raw(text: str):  # type: ignore[no-untyped-def]
        # our own markup, passed through verbatim (nbconvert would sanitize a lone <details>)
        return nbformat.v4.new_raw_cell(text, metadata={"shopmig_site": True})

    cells, runs, inside = [], 0, False
    for cell in nb.cells:
        is_solution = bool(_tags(cell) & SOLUTION_TAGS)
        if is_solution and not inside:
            runs += 1
            cells.append(raw('<details class="solution"><summary>Show the solution</summary>'))
        elif inside and not is_solution:
            cells.append(raw("</details>"))
        inside = is_solution
        cells.append(cell)
    if inside:
        cells.append(raw("</details>"))
    nb.cells = cells
    return runs


def render_notebook(
    executed: Path, page: Path, *, site_root: str, title: str, hide_solutions: bool = False
) -> str:
    """Render an executed notebook to an offline HTML page at ``page``; return the HTML.

    Raises :class:`SiteBuildError` if the notebook holds an error output or the page would
    load anything remote.
    """
    import jinja2
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    if errors:
        raise SiteBuildError(f"{executed.name} has an error output: {errors[0].get('ename')}: "
                             f"{errors[0].get('evalue')}")
    nb.cells = [c for c in nb.cells if not _tags(c) & HIDDEN_TAGS]
    if hide_solutions and _collapse_solutions(nb) == 0:
        print(f"note: {executed.name} has no cell tagged {sorted(SOLUTION_TAGS)}: "
              "nothing to collapse")
    exporter = HTMLExporter(
        template_name="classic", embed_images=True, template_file="shopmig_offline.html.j2",
        extra_loaders=[jinja2.DictLoader({"shopmig_offline.html.j2": OFFLINE_TEMPLATE})],
    )
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": _plain(title)}, "site_root": site_root}
    )
    remote = remote_includes(body)
    if remote:
        raise SiteBuildError(f"{page.name} would load remote assets: {remote[:3]}")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(body, encoding="utf-8")
    return body


def _rewrite_guide_links(fragment: str, targets: dict[str, str]) -> str:
    """Point links at ``.ipynb`` notebooks to their pages on the site (by file name)."""

    def swap(match: re.Match[str]) -> str:
        href = match.group(1)
        name = href.rsplit("/", 1)[-1].split("#", 1)[0]
        return f'href="{html.escape(targets[name])}"' if name in targets else match.group(0)

    return re.sub(r'href="([^"]+\.ipynb(?:#[^"]*)?)"', swap, fragment)


def render_guide(guide: Path, page: Path, targets: dict[str, str]) -> str:
    """Render the facilitator guide (Markdown) to ``page``; return its title."""
    text = guide.read_text(encoding="utf-8")
    heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    title = heading.group(1).strip() if heading else "Facilitator's guide"
    body = _rewrite_guide_links(markdown_to_html(text), targets)
    nav = '<nav class="site"><a href="index.html">&larr; shopmig walkthrough</a></nav>\n'
    page.write_text(PAGE.format(title=html.escape(_plain(title)), body=nav + body),
                    encoding="utf-8")
    return title


def render_index(
    out: Path, walkthrough: list[Page], exercises: list[Page], guide: Page | None, note: str,
    *, facilitator: bool = False,
) -> Path:
    """Write ``index.html`` linking every page of the site."""
    from shopmig import __version__

    def items(pages: Iterable[Page]) -> str:
        return "\n".join(
            f'<li><a href="{html.escape(p.path)}">{_inline(p.title)}</a>'
            + (f"<br><span class=\"muted\">{_inline(p.summary)}</span>" if p.summary else "")
            + "</li>"
            for p in pages
        )

    heading = ("shopmig: a live schema migration, step by step"
               + (" (facilitator's edition)" if facilitator else ""))
    parts = [
        f"<h1>{heading}</h1>",
        "<p>Add <code>orders.status</code> to a live <code>orders</code> table without downtime, "
        "lost rows or a rollback that loses data: the executed walkthrough notebooks, the "
        "exercises and the facilitator's guide. Every page works offline.</p>",
        "<h2>Walkthrough</h2>",
        f"<ol>\n{items(walkthrough)}\n</ol>" if walkthrough else "<p>No notebooks found.</p>",
        "<h2>Exercises</h2>",
        f"<ul>\n{items(exercises)}\n</ul>" if exercises else
        '<p class="muted">The exercises are not in this checkout yet '
        "(<code>notebooks/exercises/</code>).</p>",
    ]
    if guide:
        parts += ["<h2>For facilitators</h2>", f"<ul>\n{items([guide])}\n</ul>"]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f'<p class="muted">Built {stamp} with shopmig {__version__}; {note}</p>')
    index = out / "index.html"
    title = "shopmig walkthrough" + (" (facilitator)" if facilitator else "")
    index.write_text(PAGE.format(title=title, body="\n".join(parts)), encoding="utf-8")
    return index


# ------------------------------------------------------------------ the build


def build_site(
    out: str | Path = ROOT / "build" / "site",
    *,
    notebooks: str | Path = ROOT / "notebooks",
    guide: str | Path = ROOT / "docs" / "facilitator_guide.md",
    url: str = DEFAULT_URL,
    reuse: str | Path | None = None,
    facilitator: bool = False,
    solutions: str | Path = FACILITATOR,
) -> list[Path]:
    """Build the site into ``out`` (replaced); return every page written, ``index.html`` last.

    ``url`` is the database every notebook runs on (default: in-memory SQLite, each notebook
    its own demo shop). ``reuse`` names a folder of already executed walkthrough notebooks
    (``shopmig notebooks --out DIR``) to use where they are newer than their source. The
    learner's site (default) has no solution and no guide; ``facilitator=True`` adds the
    solution notebook from ``solutions`` and the facilitator's guide.
    """
    from shopmig.db import mask_url

    out, notebooks, guide = Path(out), Path(notebooks), Path(guide)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pages: list[Path] = []
    walkthrough: list[Page] = []
    targets: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="shopmig-site-") as tmp:
        work = Path(tmp)
        executed = walkthrough_notebooks(notebooks, work / "walkthrough", url,
                                         Path(reuse) if reuse else None)
        for nb_path in executed:
            title, summary = _first_heading_and_paragraph(nbformat.read(nb_path, as_version=4))
            rel = f"walkthrough/{nb_path.stem}.html"
            render_notebook(nb_path, out / rel, site_root="../", title=title or nb_path.stem)
            pages.append(out / rel)
            walkthrough.append(Page(rel, title or nb_path.stem, summary))
            targets[nb_path.name] = rel

        exercises: list[Page] = []
        versions = [(Path(notebooks) / "exercises" / LEARNER, False,
                     "learner version: try each exercise, run its check")]
        if facilitator:
            versions.append((Path(solutions) / SOLUTION, True,
                             "with solutions (collapsed: click to reveal)"))
        for source, hide, label in versions:
            if not source.is_file():
                print(f"note: {source} is missing: the site has no page for it")
                continue
            done = execute_notebook(source, work / "exercises" / source.name, url)
            title, summary = _first_heading_and_paragraph(nbformat.read(done, as_version=4))
            title = f"{title or 'Exercises'} ({label})"
            rel = f"exercises/{source.stem}.html"
            render_notebook(done, out / rel, site_root="../", title=title, hide_solutions=hide)
            pages.append(out / rel)
            exercises.append(Page(rel, title, summary))
            targets[source.name] = rel

    guide_page = None  # the guide (with its notes on wrong answers) is for facilitators only
    if facilitator and guide.is_file():
        title = render_guide(guide, out / "facilitator_guide.html", targets)
        guide_page = Page("facilitator_guide.html", title,
                          "learning goals, timings, setup, common wrong answers, running a room")
        pages.append(out / "facilitator_guide.html")
    elif facilitator:
        print(f"note: {guide} is missing: the site has no facilitator's guide")
    where = "in-memory SQLite" if url == DEFAULT_URL else mask_url(url)
    pages.append(render_index(out, walkthrough, exercises, guide_page,
                              f"notebooks executed on {where}.", facilitator=facilitator))
    return pages


def main(argv: list[str] | None = None) -> int:
    """Build the site from the command line; exit 0 on success, 2 with one error line if not."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None,
                   help="default: build/site, or build/facilitator-site with --facilitator")
    p.add_argument("--facilitator", action="store_true",
                   help="the facilitator's site: add the exercises' solutions and the guide")
    p.add_argument("--notebooks", default=str(ROOT / "notebooks"))
    p.add_argument("--guide", default=str(ROOT / "docs" / "facilitator_guide.md"))
    p.add_argument("--url", default=DEFAULT_URL,
                   help="database the notebooks run on (default: in-memory SQLite)")
    p.add_argument("--reuse", default=None, metavar="DIR",
                   help="use executed walkthrough notebooks from DIR when newer than the source")
    args = p.parse_args(argv)
    os.environ.pop("SHOPMIG_NOTEBOOK_URL", None)  # --url decides, not the environment
    try:
        out = args.out or str(ROOT / "build" / ("facilitator-site" if args.facilitator
                                                else "site"))
        pages = build_site(out, notebooks=args.notebooks, guide=args.guide, url=args.url,
                           reuse=args.reuse, facilitator=args.facilitator)
    except SiteBuildError as exc:
        print(f"build_site: error: {exc}", file=sys.stderr)
        return 2
    for page in pages:
        print(f"wrote {page}")
    print(f"open file://{pages[-1].resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
