"""``scripts/build_site.py``: the learner's site (``make site``) and the facilitator's site
(``make facilitator-site``), static and offline.

The walkthrough notebooks are executed once per module (``shopmig notebooks``) and both sites
are built from them with ``--reuse``. Each is checked for: every expected page and no other
(the learner's site has no solution and no guide), every relative link and anchor resolving,
no error output, no remote script or stylesheet, and, when Chromium is installed (always in
CI), that each page renders headless from ``file://``. Fast tests cover the offline template
and the collapsed solutions.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from shopmig.teach.notebooks import notebook_paths

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXERCISES = NOTEBOOKS / "exercises"
FACILITATOR = ROOT / "facilitator"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _load_build_site():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_site"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build_site = _load_build_site()


class _Links(HTMLParser):
    """Collects ids, the <title>, and every href/src of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in ("href", "src") and value is not None:
                self.refs.append((tag, value))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False if tag == "title" else self._in_title

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _expected_pages(*, facilitator: bool) -> list[str]:
    pages = [f"walkthrough/{p.stem}.html" for p in notebook_paths(NOTEBOOKS)]
    pages.append("exercises/exercises_learner.html")
    if facilitator:
        pages += ["exercises/exercises_solution.html", "facilitator_guide.html"]
    return [*pages, "index.html"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SHOPMIG_NOTEBOOK_URL"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The walkthrough notebooks executed once (as ``make demo`` does), for both sites."""
    out = tmp_path_factory.mktemp("executed")
    run = subprocess.run([sys.executable, "-m", "shopmig", "notebooks", "--out", str(out)],
                         capture_output=True, text=True, env=_env(), timeout=1200, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "without encryption" not in run.stderr  # kernels on local sockets, not TCP
    return out


def _build(out: Path, executed: Path, *extra: str) -> Path:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_site.py"), "--out",
                          str(out), "--reuse", str(executed), *extra],
                         capture_output=True, text=True, env=_env(), timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"open file://{out.resolve() / 'index.html'}" in run.stdout
    assert "without encryption" not in run.stderr
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, executed: Path) -> Path:
    """The learner's site, built by the script as ``make site`` runs it."""
    return _build(tmp_path_factory.mktemp("site") / "site", executed)


@pytest.fixture(scope="module")
def facilitator_site(tmp_path_factory: pytest.TempPathFactory, executed: Path) -> Path:
    """The facilitator's site, as ``make facilitator-site`` builds it."""
    return _build(tmp_path_factory.mktemp("fsite") / "facilitator-site", executed,
                  "--facilitator")


@pytest.fixture(params=["learner", "facilitator"])
def any_site(request: pytest.FixtureRequest) -> tuple[Path, bool]:
    """Each site in turn: (its folder, whether it is the facilitator's)."""
    facilitator = request.param == "facilitator"
    return request.getfixturevalue("facilitator_site" if facilitator else "site"), facilitator


@pytest.mark.slow
def test_every_expected_page_is_there_and_linked_from_the_index(
        any_site: tuple[Path, bool]) -> None:
    site, facilitator = any_site
    expected = _expected_pages(facilitator=facilitator)
    written = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert written == sorted(expected)
    linked = {href for tag, href in _parse(site / "index.html").refs if tag == "a"}
    assert linked == set(expected) - {"index.html"}


@pytest.mark.slow
def test_every_relative_link_and_anchor_resolves(any_site: tuple[Path, bool]) -> None:
    site, _ = any_site
    broken = []
    for page in site.rglob("*.html"):
        for _tag, ref in _parse(page).refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith("//"):
                continue  # a plain outbound link (<a href="https://...">); includes are below
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.is_file():
                broken.append(f"{page.relative_to(site)} -> {ref}")
            elif parts.fragment and parts.fragment not in _parse(target).ids:
                broken.append(f"{page.relative_to(site)} -> {ref} (no such anchor)")
            elif site.resolve() not in target.parents and target != site.resolve():
                broken.append(f"{page.relative_to(site)} -> {ref} (outside the site)")
    assert broken == []


@pytest.mark.slow
def test_no_page_has_error_output_or_remote_assets(any_site: tuple[Path, bool]) -> None:
    site, _ = any_site
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert 'class="output_subarea output_text output_error"' not in text, page.name
        assert "output_error" not in re.sub(r"<style.*?</style>", "", text, flags=re.DOTALL)
        assert "Traceback (most recent call last)" not in text, page.name
        assert build_site.remote_includes(text) == [], page.name
        for tag, ref in _parse(page).refs:
            if tag in ("script", "link", "img", "iframe"):
                assert not urlsplit(ref).scheme.startswith("http"), (page.name, ref)
                assert not ref.startswith("//"), (page.name, ref)


@pytest.mark.slow
def test_pages_have_titles_and_the_notebook_pages_their_outputs(site: Path) -> None:
    for source in notebook_paths(NOTEBOOKS):
        page = site / "walkthrough" / f"{source.stem}.html"
        nb = nbformat.read(source, as_version=4)
        title = _parse(page).title.strip()
        heading = next(c.source for c in nb.cells if c.cell_type == "markdown")
        assert title and title.replace("`", "") in heading.replace("`", ""), source.name
        assert 'class="prompt output_prompt"' in page.read_text(encoding="utf-8")
        assert "injected-parameters" not in page.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_facilitator_site_has_the_guide_and_the_collapsed_solutions(
        facilitator_site: Path) -> None:
    guide = (facilitator_site / "facilitator_guide.html").read_text(encoding="utf-8")
    assert "make demo" in guide and "<table>" in guide  # the timings render as tables
    nb = nbformat.read(FACILITATOR / build_site.SOLUTION, as_version=4)
    answers = [c for c in nb.cells if "your-turn" in c.metadata.get("tags", [])]
    solution = (facilitator_site / "exercises" / "exercises_solution.html").read_text(
        encoding="utf-8")
    assert solution.count('<details class="solution">') == len(answers) > 0
    assert "facilitator" in (facilitator_site / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_learner_site_shows_no_solution(site: Path) -> None:
    nb = nbformat.read(FACILITATOR / build_site.SOLUTION, as_version=4)
    answers = [c.source for c in nb.cells if "your-turn" in c.metadata.get("tags", [])]
    lines = {ln.strip() for a in answers for ln in a.splitlines()[2:] if len(ln.strip()) > 20}
    for page in site.rglob("*.html"):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        assert "<details" not in page.read_text(encoding="utf-8"), page.name
        assert not [ln for ln in lines if ln in text], page.name
        assert "not right yet" not in text and "Hint 1 of" not in text, page.name
    learner = (site / "exercises" / "exercises_learner.html").read_text(encoding="utf-8")
    assert "your turn" in learner and learner.count("not done yet") >= 5


def _chromium() -> str | None:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if not found and IN_CI:
        pytest.fail("CI=true but chromium is not installed (.ci/run installs it)")
    return found


@pytest.mark.slow
def test_each_page_renders_in_headless_chromium(any_site: tuple[Path, bool],
                                                tmp_path: Path) -> None:
    site, _ = any_site
    chromium = _chromium()
    if not chromium:
        pytest.skip("chromium is not installed (apt-get install chromium) to render the pages")
    for page in sorted(site.rglob("*.html")):
        profile = tmp_path / f"profile-{page.stem}"
        profile.mkdir()
        run = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
             page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
        assert run.returncode == 0, (page.name, run.stderr[-2000:])
        dom = run.stdout
        title = _parse(page).title.strip()
        assert title and f"<title>{title}</title>" in dom.replace("&amp;", "&"), page.name
        body = re.sub(r"<[^>]+>", " ", dom.split("<body", 1)[-1])
        assert len(body.split()) > 20, page.name  # rendered text, not an empty page


# ------------------------------------------------------------------ fast: no notebook runs


def _executed_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Exercises\n\nFour small tasks."),
        nbformat.v4.new_code_cell("DATABASE_URL = 'sqlite://'", metadata={
            "tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("answer = ...", metadata={"tags": ["your-turn"]}),
        nbformat.v4.new_code_cell("answer = 42  # second half", metadata={"tags": ["your-turn"]}),
        nbformat.v4.new_code_cell("check(answer)"),
        nbformat.v4.new_code_cell("other = 1", metadata={"tags": ["your-turn"]}),
        nbformat.v4.new_code_cell("assert nbval_only", metadata={"tags": ["solution-only"]}),
    ]
    nbformat.write(nb, path)
    return path


def test_solutions_collapse_behind_details_and_parameters_are_hidden(tmp_path: Path) -> None:
    source = _executed_notebook(tmp_path / "ex.ipynb")
    page = tmp_path / "site" / "exercises" / "ex.html"
    text = build_site.render_notebook(source, page, site_root="../", title="Ex `one`",
                                      hide_solutions=True)
    assert page.read_text(encoding="utf-8") == text
    assert text.count('<details class="solution">') == 2 and text.count("</details>") == 2
    first = text.index('<details class="solution">')
    assert first < text.index("second half") < text.index("</details>") < text.index(">check<")
    assert "DATABASE_URL" not in text and "nbval_only" not in text
    assert "<title>Ex one</title>" in text
    assert '<a href="../index.html">' in text
    assert build_site.remote_includes(text) == []
    plain = build_site.render_notebook(source, tmp_path / "plain.html", site_root="",
                                       title="Ex")
    assert "<details" not in plain and "second half" in plain


def test_a_notebook_with_an_error_output_fails_the_build(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1/0", outputs=[nbformat.v4.new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])])]
    nbformat.write(nb, tmp_path / "bad.ipynb")
    with pytest.raises(build_site.SiteBuildError, match="ZeroDivisionError"):
        build_site.render_notebook(tmp_path / "bad.ipynb", tmp_path / "bad.html",
                                   site_root="", title="bad")


@pytest.mark.parametrize("html", [
    '<script src="https://cdn.example/x.js"></script>',
    "<script src='//cdn.example/x.js'></script>",
    '<link rel="stylesheet" href="http://cdn.example/x.css">',
    "<style>@import url('https://fonts.example/f.css');</style>",
    "<script type=\"module\">import m from 'https://cdn.example/m.mjs';</script>",
])
def test_remote_includes_are_found(html: str) -> None:
    assert build_site.remote_includes(html)


def test_guide_links_to_notebooks_point_at_their_pages(tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n\n## Timings\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                     "[01](../notebooks/01_x.ipynb), [ex](../notebooks/exercises/e.ipynb#top), "
                     "[up](#timings)\n", encoding="utf-8")
    title = build_site.render_guide(guide, tmp_path / "g.html",
                                    {"01_x.ipynb": "walkthrough/01_x.html",
                                     "e.ipynb": "exercises/e.html"})
    text = (tmp_path / "g.html").read_text(encoding="utf-8")
    assert title == "Guide"
    assert 'href="walkthrough/01_x.html"' in text and 'href="exercises/e.html"' in text
    assert 'id="timings"' in text and "<table>" in text
