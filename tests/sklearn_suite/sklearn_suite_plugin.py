"""A pytest plugin that runs scikit-learn's own GaussianMixture tests against
``BigLearnGaussianMixture``.

scikit-learn's ``sklearn/mixture/tests/test_gaussian_mixture.py`` and
``test_mixture.py`` are taken from the installed scikit-learn at test time
(nothing of them is copied here). Before they are imported, this plugin puts
an adapter in the place of ``sklearn.mixture.GaussianMixture``:

- ``--biglearn-config=plain``: the estimator with scikit-learn's EM
  (``view_probs=(1, 0, 0), weight_smoothing=0, n_inner=1``, with
  ``eig_floor=0`` and scikit-learn's ``reg_covar=1e-6``) as its defaults;
- ``--biglearn-config=default``: the estimator with its own defaults.

The tests that still fail are the documented differences of
``docs/scikit_learn_tests.md``: each is marked ``xfail(strict=True)`` with its
reason, so a test that starts passing, or a new failure, fails the run.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
import types
from pathlib import Path

import pytest

DIFFERENCES = Path(__file__).resolve().parents[2] / "docs" / "scikit_learn_tests.md"

#: The estimator's defaults that make it scikit-learn's EM.
PLAIN_EM = {"view_probs": (1.0, 0.0, 0.0), "weight_smoothing": 0.0, "n_inner": 1,
            "eig_floor": 0.0, "reg_covar": 1e-6}

CONFIGS = ("plain", "default")


def pytest_addoption(parser):
    parser.addoption("--biglearn-config", choices=CONFIGS, default="default",
                     help="which configuration of BigLearnGaussianMixture replaces "
                          "scikit-learn's GaussianMixture")


def adapter(config: str) -> type:
    """The class that stands for ``GaussianMixture`` in ``config``: a subclass
    of the estimator named ``GaussianMixture`` (the tests match messages that
    name the class, such as check_is_fitted's), with the estimator's own
    signature or, for "plain", one whose defaults are scikit-learn's EM (so
    that ``get_params`` and ``clone`` see them as scikit-learn expects)."""
    from biglearn_em import BigLearnGaussianMixture

    init = BigLearnGaussianMixture.__init__
    kwdefaults = dict(init.__kwdefaults__, **(PLAIN_EM if config == "plain" else {}))
    new_init = types.FunctionType(init.__code__, init.__globals__, "__init__",
                                  init.__defaults__, init.__closure__)
    new_init.__kwdefaults__ = kwdefaults
    new_init.__qualname__ = "GaussianMixture.__init__"
    new_init.__signature__ = inspect.signature(init).replace(parameters=[
        p.replace(default=kwdefaults.get(p.name, p.default))
        for p in inspect.signature(init).parameters.values()])
    return type("GaussianMixture", (BigLearnGaussianMixture,),
                {"__init__": new_init, "__module__": __name__,
                 "__doc__": f"BigLearnGaussianMixture ({config} configuration)."})


def documented_failures(config: str) -> list[tuple[str, str]]:
    """(test id pattern, reason) of every row of the differences table that
    names ``config`` in its configurations column."""
    rows = []
    for line in DIFFERENCES.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        pattern, configs, reason = cells
        names = {c.strip() for c in configs.split(",")}
        if config in names:
            rows.append((pattern.strip("`"), reason))
    return rows


def pytest_configure(config):
    import sklearn.mixture

    name = config.getoption("--biglearn-config")
    config._biglearn_failures = documented_failures(name)
    # the test modules import GaussianMixture from sklearn.mixture when collected
    sklearn.mixture.GaussianMixture = adapter(name)


def pytest_collection_modifyitems(config, items):
    failures = config._biglearn_failures
    unused = {pattern for pattern, _ in failures}
    for item in items:
        test_id = f"{Path(item.fspath).name}::{item.name}"
        for pattern, reason in failures:
            # "*" is the only wildcard: a "[" opens a test's parameters
            if fnmatch.fnmatchcase(test_id, pattern.replace("[", "[[]")):
                item.add_marker(pytest.mark.xfail(reason=_plain(reason), strict=True))
                unused.discard(pattern)
                break
    if unused:  # a renamed or removed test: the table no longer says what fails
        raise pytest.UsageError(f"{DIFFERENCES.name} lists tests that scikit-learn "
                                f"{sklearn_version()} does not have: {sorted(unused)}")


def sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def _plain(text: str) -> str:
    return re.sub(r"`", "", text)
