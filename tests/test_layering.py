"""The package's layering, read from the source with ``ast`` (imports inside
functions and under ``TYPE_CHECKING`` included: an import hidden in a function
still ties two modules together).

- no import cycle (issue 20 removed the last two; :data:`KNOWN_CYCLES` is empty);
- every module lies in one of :data:`LAYERS` and imports from no higher one;
- the backends never import the engine, the engine imports only the backends
  and the low helpers, and the low helpers nothing else of the package;
- no module imports a module of the package inside a function, except to put
  off an optional dependency (:data:`DEFERRED`);
- outside the core (experiments, commands, benchmarks) no module imports a
  private module or a private name of the package, reaches into the engine or
  the backends past their faces (``biglearn_em.engine``,
  ``biglearn_em.backends``), or calls a private method of an object it did
  not define.

Each check is shown to fail on a reintroduced case.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "biglearn_em"

#: Import cycles allowed: none. Issue 20 named two, both gone: the engine
#: circle of seven modules (select_backend left the backend interface for
#: backends/select.py; Data, Params and Settings left the loop for
#: engine/data.py, the step and the repair for engine/step.py; the Dask backend
#: builds its parts from a template of the data instead of importing the
#: engine's class) and the estimator with its model files (persist no longer
#: imports the estimator, which hands it its class to build; the version has its
#: own module).
KNOWN_CYCLES: list[set[str]] = []

#: Imports of the package's own modules inside functions, each with why: the
#: module imported needs an optional dependency at import time.
DEFERRED = {
    ("biglearn_em.backends.select", "biglearn_em.backends.torch"): "PyTorch is optional",
    ("biglearn_em.experiments.grid25", "biglearn_em.experiments.plots"): "matplotlib",
    ("biglearn_em.experiments.hard", "biglearn_em.experiments.plots"): "matplotlib",
    ("biglearn_em.experiments.missing", "biglearn_em.experiments.plots"): "matplotlib",
}

#: The package's low helpers, which import nothing else of it: what kind of array
#: a value is, atomic file writes, declarative parameter checks.
LOW_HELPERS = ("biglearn_em._kinds", "biglearn_em._files", "biglearn_em._validation")

#: The engine's layer may import only these besides itself and the standard
#: and third-party libraries: the backends and the low helpers.
ENGINE_MAY_IMPORT = ("biglearn_em.backends", *LOW_HELPERS)

#: Outside the core: folders of the package, and the repository's benchmarks.
OUTSIDE = ("biglearn_em.experiments", "biglearn_em.commands")
FACES = ("biglearn_em.engine", "biglearn_em.backends")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path, path: Path, modules: set[str], tree: ast.Module | None = None):
    """(node, module imported, names imported from it) for every import
    statement of ``path`` (parsed as ``tree``) that reaches a module of the
    package at ``root``; ``path`` may lie outside the package (a benchmark)."""
    name = module_name(root, path) if path.is_relative_to(root) else path.stem
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text()) if tree is None else tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # "from . import moves" imports a module
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    yield node, sub, ()
                elif source in modules:
                    yield node, source, (alias.name,)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield node, alias.name, ()


def parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports, anywhere in its
    body. Importing ``a.b.c`` also runs ``a.b``'s ``__init__``: an edge to a
    module is an edge to each package above it, except the importer's own
    packages (which Python has begun to import before it)."""
    paths = {module_name(root, p): p for p in root.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        targets = set()
        for _, target, _ in imports(root, path, set(paths)):
            targets.add(target)
            targets.update(p for p in parents(target) if p not in parents(name))
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _sorted(components: list[set[str]]) -> list[list[str]]:
    return sorted(sorted(c) for c in components)


def test_no_import_cycle():
    assert _sorted(cycles(import_graph(PACKAGE))) == _sorted(KNOWN_CYCLES)


def test_every_module_of_the_package_is_read():
    graph = import_graph(PACKAGE)
    assert {"biglearn_em", "biglearn_em.mixture", "biglearn_em.engine.loop",
            "biglearn_em.backends.dask", "biglearn_em.commands.model",
            "biglearn_em.experiments.grid25"} <= set(graph)
    assert "biglearn_em.engine.loop" in graph["biglearn_em.engine"]
    assert "biglearn_em.backends.base" in graph["biglearn_em.engine.loop"]


def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(root, p): p for p in root.rglob("*.py")}


#: The layers, lowest first: a module imports only from its own layer or
#: lower ones (within a layer, only the absence of cycles is asked).
LAYERS = (
    LOW_HELPERS + ("biglearn_em._version",),
    ("biglearn_em.backends",),
    ("biglearn_em.engine",),
    ("biglearn_em.datasets", "biglearn_em.io", "biglearn_em.metrics", "biglearn_em.progress"),
    ("biglearn_em._inputs", "biglearn_em._predict", "biglearn_em.fitting", "biglearn_em.persist",
     "biglearn_em.mixture", "biglearn_em.conditional", "biglearn_em.wrappers"),
    ("biglearn_em.selection",),
    ("biglearn_em.experiments", "biglearn_em.commands", "biglearn_em.cli"),
)


def layer(module: str) -> int:
    """The layer of a module: that of the longest prefix naming it (the
    package's ``__init__`` is with the selection, whose names it exports)."""
    if module == "biglearn_em":
        return 5
    found = [(len(p), n) for n, names in enumerate(LAYERS) for p in names
             if module == p or module.startswith(p + ".")]
    assert found, f"{module} is in no layer: add it to LAYERS"
    return max(found)[1]


def upward_imports(root: Path) -> list[tuple[str, str]]:
    """Imports from a higher layer than the importer's."""
    return sorted((m, t) for m, targets in import_graph(root).items() for t in targets
                  if layer(t) > layer(m))


def backend_imports_of_the_engine(root: Path) -> list[tuple[str, str]]:
    """Backends importing anything of the package but backends and low helpers."""
    return sorted((m, t) for m, targets in import_graph(root).items()
                  if m.startswith("biglearn_em.backends") for t in targets
                  if not t.startswith(("biglearn_em.backends",) + LOW_HELPERS))


def engine_imports_beyond_backends(root: Path) -> list[tuple[str, str]]:
    return sorted((m, t) for m, targets in import_graph(root).items()
                  if m.startswith("biglearn_em.engine") for t in targets
                  if not t.startswith(("biglearn_em.engine",) + ENGINE_MAY_IMPORT))


def low_helper_imports(root: Path) -> list[tuple[str, str]]:
    graph = import_graph(root)
    return sorted((m, t) for m in LOW_HELPERS for t in graph[m] if t not in LOW_HELPERS)


def hidden_imports(root: Path) -> set[tuple[str, str]]:
    """Imports of the package's modules made inside functions."""
    modules = _modules(root)
    hidden = set()
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in tree.body:  # under "if TYPE_CHECKING:" or "try:" at the top
            if isinstance(node, (ast.If, ast.Try)):
                top.update(id(n) for n in ast.walk(node))
        for node, target, _ in imports(root, path, set(modules), tree):
            if id(node) not in top and target != name:
                hidden.add((name, target))
    return hidden


def test_every_module_is_in_a_layer_and_imports_no_higher_one():
    assert all(layer(m) >= 0 for m in _modules())
    assert upward_imports(PACKAGE) == []


def test_backends_never_import_the_engine():
    assert backend_imports_of_the_engine(PACKAGE) == []


def test_the_engine_imports_only_the_backends_and_low_helpers():
    assert engine_imports_beyond_backends(PACKAGE) == []


def test_the_low_helpers_import_nothing_of_the_package_but_each_other():
    assert low_helper_imports(PACKAGE) == []


def test_no_import_of_the_package_hides_in_a_function():
    assert hidden_imports(PACKAGE) == set(DEFERRED)


@pytest.mark.parametrize("module, line, check", [
    # the Dask backend building the engine's Data, as before issue 20
    ("backends/dask.py", "from ..engine.data import Data\n", backend_imports_of_the_engine),
    # the engine reaching for the estimator's fit
    ("engine/loop.py", "from ..fitting import Fit\n", engine_imports_beyond_backends),
    # a low helper reaching up
    ("_files.py", "from .backends import Backend\n", low_helper_imports),
    # the metrics importing the estimator
    ("metrics.py", "from .mixture import BigLearnGaussianMixture\n", upward_imports),
    # an import of the package hidden in a function, as the cycles of issue 20 were
    ("engine/moves.py", "def later():\n    from . import loop\n    return loop\n",
     lambda root: hidden_imports(root) - set(DEFERRED)),
])
def test_each_layering_check_fails_on_a_reintroduced_case(tmp_path, module, line, check):
    copy = tmp_path / "biglearn_em"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    assert not check(copy)
    target = copy / module
    target.write_text(line + target.read_text())
    assert check(copy)


def _outside_files() -> list[tuple[str, Path]]:
    """The modules outside the core, with names for messages."""
    files = [(name, path) for name, path in _modules().items() if name.startswith(OUTSIDE)]
    files += [(f"benchmarks.{p.stem}", p) for p in sorted((REPO / "benchmarks").glob("*.py"))]
    return files


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(path: Path, own: str) -> list[str]:
    """What ``path`` (module ``own``, or a benchmark) uses of the core that it
    should not: private modules, private names, the engine's and the backends'
    modules past their faces, and private methods of objects it did not
    define."""
    modules = set(_modules())
    tree = ast.parse(path.read_text())
    found = []
    for node, target, names in imports(PACKAGE, path, modules, tree):
        where = f"line {node.lineno}: "
        if target.startswith(OUTSIDE) and own.startswith(OUTSIDE):
            # experiments and commands import each other's public names freely
            if any(_private(n) for n in names):
                found.append(where + f"{target}.{names[0]}")
            continue
        if any(_private(part) for part in target.split(".")):
            found.append(where + f"private module {target}")
        elif any(target.startswith(face + ".") for face in FACES):
            found.append(where + f"{target} past its face")
        if any(_private(n) for n in names):
            found.append(where + f"private name {target}.{names[0]}")
    defined = {n.name for n in ast.walk(tree)
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and _private(node.func.attr) and node.func.attr not in defined):
            found.append(f"line {node.lineno}: call of {ast.unparse(node.func)}")
    return found


@pytest.mark.parametrize("name, path", _outside_files(), ids=lambda v: str(v).split("/")[-1])
def test_outside_the_core_nothing_private_is_used(name, path):
    assert private_uses(path, name) == []


def test_the_private_use_check_finds_each_kind(tmp_path):
    """The checker itself, on a module that does each forbidden thing once."""
    bad = tmp_path / "bad.py"
    bad.write_text("from biglearn_em import _files\n"
                   "from biglearn_em.engine.loop import run\n"
                   "from biglearn_em.io import _pick\n"
                   "from biglearn_em.engine import Data\n"
                   "def f(model):\n    return model._fit_state()\n")
    found = private_uses(bad, "benchmarks.bad")
    assert [f.split(": ", 1)[1] for f in found] == [
        "private module biglearn_em._files", "biglearn_em.engine.loop past its face",
        "private name biglearn_em.io._pick", "call of model._fit_state"]


@pytest.mark.parametrize("module, line", [
    # the estimator and its model files, as before issue 20
    ("persist.py", "from .mixture import BigLearnGaussianMixture\n"),
    # the moves and the loop, as before issue 20
    ("engine/moves.py", "from .loop import State\n"),
    # the Dask backend building the engine's Data, as before issue 20
    ("backends/dask.py", "from ..engine.data import Data\n"),
])
def test_a_reintroduced_cycle_of_the_package_is_found(tmp_path, module, line):
    copy = tmp_path / "biglearn_em"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    assert cycles(import_graph(copy)) == []
    target = copy / module
    target.write_text(line + target.read_text())
    assert cycles(import_graph(copy)) != []


@pytest.mark.parametrize("hidden", [False, True])
def test_a_reintroduced_cycle_is_found(tmp_path, hidden):
    """The checker itself: a package whose modules import each other (at the
    top, or inside a function as today's cycles do) has one cycle; without
    the back edge, none."""
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from .b import f\n")
    back = ("def g():\n    from . import a\n    return a\n" if hidden else "from . import a\n")
    (root / "b.py").write_text(back + "def f():\n    return 1\n")
    (root / "c.py").write_text("from .a import f\n")
    assert _sorted(cycles(import_graph(root))) == [["pkg.a", "pkg.b"]]
    (root / "b.py").write_text("def f():\n    return 1\n")
    assert cycles(import_graph(root)) == []
