"""The BLAS thread setting a fit runs under (``biglearn_em.backends.one_blas_pool``)."""

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.backends.blas import _package_of, one_blas_pool
from conftest import blobs


def _threads() -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_package_of_wheel_and_system_paths():
    assert _package_of("/venv/lib/python3.11/site-packages/numpy.libs/libscipy_openblas64_.so") \
        == "numpy"
    assert _package_of("/venv/lib/python3.11/site-packages/scipy.libs/libscipy_openblas.so") \
        == "scipy"
    assert _package_of("/usr/lib/x86_64-linux-gnu/libopenblas.so.0") is None


def test_numpy_gets_one_thread_inside_and_its_own_back_after():
    import scipy.linalg  # noqa: F401  (SciPy's BLAS loaded, if it has its own)

    # two threads to begin with, whatever the environment set (OPENBLAS_NUM_THREADS=1
    # under pytest-xdist), so that "one inside, its own back after" can be seen
    with threadpool_limits(limits=2, user_api="blas"):
        before = _threads()
        packages = {path: _package_of(path) for path in before}
        separate = {"numpy", "scipy"} <= set(packages.values())
        with one_blas_pool():
            inside = _threads()
        assert _threads() == before
    for path, n in inside.items():
        if separate and packages[path] == "numpy":
            assert n == 1 < before[path]
        else:  # SciPy's pool, or one library both load: untouched
            assert n == before[path]


def test_fit_leaves_the_thread_settings_as_they_were(rng):
    before = _threads()
    X, _ = blobs(rng, 3, 60, 200, spread=4.0)  # D = 60 runs the SciPy-BLAS kernels
    gmm = BigLearnGaussianMixture(3, max_iter=5, random_state=0).fit(X)
    assert np.isfinite(gmm.score(X))
    assert _threads() == before

