"""The documentation site builds, offline and with warnings as errors, as the README's docs
command builds it; the built HTML has a page for every public name and every example of the
gallery (each one that runs with a figure), and every internal link and image in it resolves
(external http(s) links are not followed).

The docs packages (sphinx, pydata-sphinx-theme, numpydoc, sphinx-gallery, myst-parser, and
what the gallery's examples import) are in the ``test`` extra as well as the ``docs`` one, so
that this test runs wherever the tests are installed as the README says; without them it
fails (sphinx cannot be imported) rather than skips."""

import importlib
import os
import re
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


#: The public submodules (docs/api.rst), each with an ``__all__``: its face.
PUBLIC_SUBMODULES = ("datasets", "metrics", "io", "engine", "backends")


def _public_names():
    """(page name, where it is listed) for every public name: ``biglearn_em.__all__``, each
    public submodule, and each name of a submodule's ``__all__``."""
    names = [(f"biglearn_em.{name}", "api.html") for name in biglearn_em.__all__]
    for module_name in PUBLIC_SUBMODULES:
        module = importlib.import_module(f"biglearn_em.{module_name}")
        names.append((module.__name__, "api.html"))
        names += [(f"{module.__name__}.{name}", f"generated/{module.__name__}.html")
                  for name in module.__all__]
    return names


def _anchor(name: str) -> str:
    """The id autodoc gives a name on its page (a module's is prefixed with ``module-``)."""
    is_module = name.removeprefix("biglearn_em.") in PUBLIC_SUBMODULES
    return f"module-{name}" if is_module else name


def _description(page: Path, name: str) -> str:
    """The text autodoc wrote for ``name`` on its page: what follows its signature up to the
    first closing ``</dd>`` (a module's page: its docstring's first paragraph)."""
    html = page.read_text(encoding="utf-8")
    start = html.index(f'id="{_anchor(name)}"')
    body = html[start:]
    body = body[body.index("<dd>"):body.index("</dd>")] if "<dd>" in body else body[:2000]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


def test_the_public_submodules_have_a_face():
    for module_name in PUBLIC_SUBMODULES:
        module = importlib.import_module(f"biglearn_em.{module_name}")
        assert module.__all__ and all(hasattr(module, name) for name in module.__all__), module


@pytest.mark.slow
def test_every_public_name_has_an_api_page(site):
    missing, undescribed, unlisted = [], [], []
    for name, listed_on in _public_names():
        page = site / "generated" / f"{name}.html"
        if not page.is_file() or _anchor(name) not in _parse(page).ids:
            missing.append(name)
            continue
        # a page that says nothing, or only what the value's type is (a constant re-exported by
        # a face, whose comment autodoc does not find: docs/conf.py finds it)
        text = _description(page, name)
        if not text or "Built-in immutable sequence" in text or "-> integer" in text:
            undescribed.append(name)
        linked = {unquote(urlsplit(url).path).rsplit("/", 1)[-1]
                  for _, url in _parse(site / listed_on).urls}
        if f"{name}.html" not in linked:
            unlisted.append(f"{name} (on {listed_on})")
    assert not missing, f"no API page for {missing}"
    assert not undescribed, f"API pages with no description: {undescribed}"
    assert not unlisted, f"API pages no index links to: {unlisted}"


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

