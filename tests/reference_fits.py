"""Reference fits: a fixed set of small fits over every backend, covariance
type and phase of the fit, whose results a refactor must leave bit-identical
(issue 20).

``python tests/reference_fits.py`` writes ``tests/data/reference_fits.npz``
from the code as it is: run it at the commit *before* a change
that must not move results, commit the file, and ``tests/test_reference_fits.py``
then compares every later commit with it. The file records the versions of the
numeric libraries that computed it: with those versions the comparison is
exact (bit for bit); with others (a new NumPy, SciPy or PyTorch rounds its
BLAS calls differently) it is to 1e-9, which still catches a changed algorithm.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg  # also loads SciPy's BLAS, which versions() lists
import sklearn
from sklearn.exceptions import ConvergenceWarning

from biglearn_em import BigLearnGaussianMixture

FILE = Path(__file__).parent / "data" / "reference_fits.npz"
TYPES = ("full", "tied", "diag", "spherical")
#: What each case records: fitted arrays, traces and counts (labels as float).
FIELDS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bounds_",
          "labels_", "n_iter_", "n_em_steps_", "converged_", "history_ll")


@dataclass(frozen=True)
class Case:
    """One reference fit: ``kind`` says which path of the fit it runs."""

    kind: str
    covariance_type: str
    backend: str = "numpy"
    params: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.covariance_type}-{self.backend}"


def cases() -> list[Case]:
    """Every covariance type through every phase on NumPy (defaults: short runs,
    refinement, move proposals, views, polish; plain EM; the paper's restarts=0;
    a warm refit; K = 1; a search subsample; a kept move; a max_time stop is left
    out, as it depends on the clock), and the default fit on torch's CPU device
    and on Dask."""
    out = []
    for t in TYPES:
        out += [Case("default", t), Case("default", t, "torch"), Case("default", t, "dask"),
                Case("plain", t, params={"view_probs": (1, 0, 0), "weight_smoothing": 0.0,
                                         "n_inner": 1}),
                Case("paper", t, params={"restarts": 0, "max_iter": 60, "patience": None,
                                         "update": "block"}),
                Case("warm", t), Case("one", t),
                Case("subsample", t, params={"search_rows": 120}),
                # a poor start on a grid of blobs: a split-and-merge move is kept
                Case("moves", t, params={"restarts": 1, "restart_iter": 3,
                                         "init_params": "random_from_data"})]
    return out


def data() -> np.ndarray:
    """300 x 3: four overlapping clusters of unequal weights and shapes."""
    rng = np.random.default_rng(20)
    centres = rng.normal(0.0, 2.5, (4, 3))
    sizes = (120, 90, 60, 30)
    X = [rng.normal(size=(n, 3)) @ rng.normal(size=(3, 3)) * 0.6 + c
         for n, c in zip(sizes, centres, strict=True)]
    return np.vstack(X)


def grid_data() -> np.ndarray:
    """300 x 2: six separated blobs on a 3 x 2 grid."""
    rng = np.random.default_rng(5)
    centres = 6.0 * np.array([[x, y] for x in range(3) for y in range(2)])
    return np.vstack([rng.normal(size=(50, 2)) + c for c in centres])


def fit(case: Case) -> dict[str, np.ndarray]:
    """The recorded results of ``case`` as float64 host arrays."""
    X = grid_data() if case.kind == "moves" else data()
    K = {"one": 1, "moves": 6}.get(case.kind, 4)
    model = BigLearnGaussianMixture(K, covariance_type=case.covariance_type, random_state=7,
                                    **case.params)
    if case.backend == "torch":
        import torch

        X = torch.tensor(X)
    elif case.backend == "dask":
        import dask.array as da

        X = da.from_array(X, chunks=(70, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if case.kind == "warm":
            model.set_params(max_iter=3).fit(X)
            model.set_params(warm_start=True, max_iter=20)
        model.fit(X)
    labels = model.labels_
    labels = labels.compute() if hasattr(labels, "compute") else labels
    out = {name: getattr(model, name) for name in FIELDS[:-1]}
    out["labels_"] = labels
    out["history_ll"] = [np.nan if r["log_likelihood"] is None else r["log_likelihood"]
                         for r in model.history_]
    return {name: np.asarray(value, dtype=float) for name, value in out.items()}


def versions() -> dict[str, str]:
    """The numeric libraries whose rounding the references carry, and the kernels they
    picked for this CPU: OpenBLAS chooses its kernels by CPU (Haswell, SkylakeX, ...) and
    PyTorch its vector width, and the same library versions round differently on another
    CPU (up to 2e-13 relative on these fits)."""
    from threadpoolctl import threadpool_info

    found = {"python": sys.version.split()[0], "numpy": np.__version__,
             "scipy": scipy.__version__, "scikit-learn": sklearn.__version__}
    found["blas"] = "; ".join(sorted(
        {f"{info['internal_api']} {info['version']} {info.get('architecture')}"
         for info in threadpool_info() if info["user_api"] == "blas"}))
    try:
        import torch

        found["torch"] = torch.__version__
        found["torch-cpu"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        pass
    return found


def write(path: Path = FILE) -> None:
    arrays = {f"{case.name}/{name}": value
              for case in cases() for name, value in fit(case).items()}
    arrays["meta"] = np.array(json.dumps({"versions": versions(),
                                          "cases": [c.name for c in cases()]}))
    np.savez_compressed(path, **arrays)


if __name__ == "__main__":
    write()
    print(f"wrote {FILE} ({len(cases())} fits)")
