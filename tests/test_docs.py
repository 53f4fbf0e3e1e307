"""The documentation site builds, offline and with warnings as errors, as the README's docs
command builds it; the built HTML has a page for every public name and every example of the
gallery (each one that runs with a figure), and every internal link and image in it resolves
(external http(s) links are not followed).

The docs packages (sphinx, pydata-sphinx-theme, numpydoc, sphinx-gallery, myst-parser, and
what the gallery's examples import) are in the ``test`` extra as well as the ``docs`` one, so
that this test runs wherever the tests are installed as the README says; without them it
fails (sphinx cannot be imported) rather than skips."""

import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import biglearn_em

ROOT = Path(__file__).resolve().parents[1]


class _Links(HTMLParser):
    """The ids of one HTML page and the URLs it points to (href of a, link, area; src of
    img, script, source, iframe)."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag in ("a", "link", "area") and attrs.get("href") is not None:
            self.urls.append((tag, attrs["href"]))
        if tag in ("img", "script", "source", "iframe") and attrs.get("src") is not None:
            self.urls.append((tag, attrs["src"]))


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built from a copy of docs/ (and README.md, which Getting started includes, and
    examples/, the gallery's scripts, which conf.py finds at ../examples), so that
    autosummary's generated pages and the gallery's do not land in the source tree."""
    import sphinx  # noqa: F401  (the docs packages must be installed: see the module docstring)

    tmp = tmp_path_factory.mktemp("docs")
    # left out: what a local build wrote into docs/ (the gallery is built afresh here)
    shutil.copytree(ROOT / "docs", tmp / "docs", ignore=shutil.ignore_patterns(
        "_build", "generated", "auto_examples", "sg_execution_times.rst"))
    shutil.copy(ROOT / "README.md", tmp / "README.md")
    shutil.copytree(ROOT / "examples", tmp / "examples",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp / "html"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp / "doctrees"), str(tmp / "docs"), str(out)],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f"the docs build failed:\n{done.stdout}\n{done.stderr}"
    return out


@pytest.mark.slow
def test_every_public_name_has_an_api_page(site):
    missing = []
    for name in biglearn_em.__all__:
        page = site / "generated" / f"biglearn_em.{name}.html"
        if not page.is_file() or f"biglearn_em.{name}" not in _parse(page).ids:
            missing.append(name)
    assert not missing, f"no API page for {missing}"
    api = _parse(site / "api.html")
    linked = {unquote(urlsplit(url).path) for _, url in api.urls}
    assert {f"generated/biglearn_em.{name}.html" for name in biglearn_em.__all__} <= linked


@pytest.mark.slow
def test_every_internal_link_and_image_resolves(site):
    # the built pages; _static holds the theme's assets (among them a Jinja template, which is no
    # page), checked as the targets the pages point to
    pages = {path: _parse(path) for path in site.rglob("*.html")
             if path.relative_to(site).parts[0] != "_static"}
    assert len(pages) > 10
    broken = []
    n_checked = 0
    for path, page in pages.items():
        for tag, url in page.urls:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "mailto") or url.startswith("//"):
                continue
            assert not parts.scheme, f"{path.relative_to(site)}: {url}"
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            n_checked += 1
            where = f"{path.relative_to(site)}: <{tag}> {url}"
            if not target.is_file():
                broken.append(where)
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(where + " (no such anchor)")
    assert n_checked > 100
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.slow
def test_every_executed_example_drew_a_figure(site):
    """Each ``examples/plot_*.py`` ran in the build (sphinx-gallery's filename_pattern) and its
    page shows its first figure, ``sphx_glr_<name>_001.png`` (the HTML builder copies it to
    _images/); each other script (the GPU example) has a page, rendered without a run."""
    gallery = site / "auto_examples"
    scripts = sorted((ROOT / "examples").glob("*.py"))
    executed = [f for f in scripts if f.name.startswith("plot_")]
    assert len(executed) >= 8 and len(scripts) > len(executed)
    problems = []
    for script in scripts:
        page = gallery / f"{script.stem}.html"
        if not page.is_file():
            problems.append(f"{script.name}: no page {page.relative_to(site)}")
            continue
        images = {(page.parent / unquote(urlsplit(url).path)).resolve()
                  for tag, url in _parse(page).urls if tag == "img"}
        figure = (site / "_images" / f"sphx_glr_{script.stem}_001.png").resolve()
        if script in executed and not (figure.is_file() and figure in images):
            problems.append(f"{script.name}: its page shows no {figure.name}")
        if script not in executed and figure.exists():
            problems.append(f"{script.name} was run (it should only be shown)")
    assert not problems, problems
    linked = {unquote(urlsplit(url).path) for _, url in _parse(gallery / "index.html").urls}
    assert {f"{script.stem}.html" for script in scripts} <= linked


def test_the_test_extra_holds_the_docs_extra():
    """The test above needs the docs extra: the test extra repeats it, so that a test install
    builds the site instead of failing on a missing package."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert set(extras["docs"]) <= set(extras["test"])

