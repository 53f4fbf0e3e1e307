import os
import warnings

# scikit-learn's array-API estimator check runs only when SciPy's array-API
# mode is on, which must be chosen before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest


def random_spd(rng: np.random.Generator, K: int, D: int, scale: float = 1.0) -> np.ndarray:
    """K random well-conditioned symmetric positive definite D x D matrices."""
    A = rng.standard_normal((K, D, D))
    return scale * (A @ np.swapaxes(A, 1, 2) / D + 0.5 * np.eye(D))


def random_mixture(rng: np.random.Generator, K: int, D: int):
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(0, 3, (K, D))
    return weights, means, random_spd(rng, K, D)


def blobs(rng: np.random.Generator, K: int, D: int, n_per: int, spread: float = 4.0):
    """Well-separated Gaussian clusters: X (K n_per, D) and labels."""
    centers = rng.normal(0, spread, (K, D))
    X = np.vstack([rng.normal(c, 1.0, (n_per, D)) for c in centers])
    return X, np.repeat(np.arange(K), n_per)


def scaled_blobs(rng: np.random.Generator, K: int, D: int, n_per: int):
    """:func:`blobs` with each feature on its own scale (0.3 to 2)."""
    X, y = blobs(rng, K, D, n_per)
    return X * rng.uniform(0.3, 2.0, D), y


def fit_quietly(X, **kw):
    """``BigLearnGaussianMixture(**kw).fit(X)`` without its ConvergenceWarning."""
    from sklearn.exceptions import ConvergenceWarning

    from biglearn_em import BigLearnGaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BigLearnGaussianMixture(**kw).fit(X)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _package_data_only(monkeypatch):
    """Tests read the UCI sets shipped in the package: a developer's
    ``$BIGLEARN_EM_DATA`` must not change what they see (tests of the override
    set it themselves)."""
    monkeypatch.delenv("BIGLEARN_EM_DATA", raising=False)


# ------------------------------------------------------------------ backends
TORCH_MISSING = ('PyTorch is not installed: pip install "torch==2.13.0+cpu" (the CPU build '
                 "that .ci/run installs; or pip install torch --index-url "
                 "https://download.pytorch.org/whl/cpu)")
DASK_MISSING = 'Dask is not installed: pip install -e ".[test]" (or ".[dask]")'


class Backend:
    """Where the data of a fit live, seen from a test: ``put`` turns a NumPy
    array into this backend's input (a NumPy array, a torch CPU tensor, a dask
    array chunked by rows) and ``get`` brings any result back to NumPy (a
    tensor from its device, a lazy dask array computed)."""

    def __init__(self, name: str, put, tol: float, portable_checkpoints: bool,
                 result_type: type = np.ndarray):
        self.name = name
        self.put = put
        #: the type of predictions and ``labels_`` (NumPy arrays, whatever the
        #: input's device; a lazy dask array for a dask array)
        self.result_type = result_type
        #: how far from the NumPy fit a fit here may end (its sums run in
        #: another order); 0 for NumPy: a fit repeated gives the same bits
        self.tol = tol
        #: whether a checkpoint written here resumes on NumPy: the fingerprint
        #: of a dask array includes its chunking (a fit resumes on the same blocks)
        self.portable_checkpoints = portable_checkpoints

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    @staticmethod
    def get(a) -> np.ndarray:
        if hasattr(a, "compute"):  # a lazy dask array
            a = a.compute()
        if hasattr(a, "detach"):  # a torch tensor
            a = a.detach().cpu().numpy()
        return np.asarray(a)


def dask_rows(X: np.ndarray):
    """X as a dask array of three blocks of rows, the last one shorter (blocks
    that do not align with the fit's chunks)."""
    import dask.array as da

    rows = max(1, -(-len(X) // 3) + 1)
    return da.from_array(X, chunks=(rows, *X.shape[1:]))


BACKENDS = ("numpy", "torch-cpu", "dask")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The core behaviour on every backend: a test that takes this fixture
    runs once per backend, and a new backend inherits such tests by becoming
    one more parameter here. Dask computes on its threaded scheduler (tests
    that need worker processes take ``cluster`` instead)."""
    if request.param == "numpy":
        yield Backend("numpy", lambda X: np.array(X), tol=0.0, portable_checkpoints=True)
    elif request.param == "torch-cpu":
        torch = pytest.importorskip("torch", reason=TORCH_MISSING)
        yield Backend("torch-cpu", lambda X: torch.tensor(X, device="cpu"), tol=1e-10,
                      portable_checkpoints=True)
    else:
        dask = pytest.importorskip("dask", reason=DASK_MISSING)
        import dask.array as da

        with dask.config.set(scheduler="threads"):
            yield Backend("dask", dask_rows, tol=1e-8, portable_checkpoints=False,
                          result_type=da.Array)


# ----------------------------------------------------------- the test run
def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        # pytest-xdist's workers share the cores: one thread each for the BLAS
        # libraries and torch, whose idle threads spin and slow the other worker
        # down (set here, in the controller, before the workers load them)
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")


def pytest_collection_modifyitems(config, items):
    """The slow tests first, so that pytest-xdist's two workers (each runs
    whole files) end together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable


# ------------------------------------------------------------- local cluster
@pytest.fixture(scope="session")
def _local_cluster():
    """The test session's one LocalCluster: two worker processes of one
    thread, started by the first test that needs it, closed when the session
    ends. (Under pytest-xdist, one per worker that runs such a test: the tests
    that take it are in test_dask.py, which one worker runs whole.)"""
    distributed = pytest.importorskip("distributed", reason=DASK_MISSING)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture
def cluster(_local_cluster):
    """A client of the session's LocalCluster, the active Dask scheduler for
    the test, with both worker processes up (a worker a test killed has been
    restarted by its nanny)."""
    from distributed import Client

    with Client(_local_cluster) as client:
        client.wait_for_workers(2, timeout=60)
        yield client
