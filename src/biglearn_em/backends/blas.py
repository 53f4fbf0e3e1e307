"""Thread pools of the BLAS libraries the engine calls.

The EM kernels call BLAS through NumPy (``@``, ``np.linalg``) and through
SciPy (``dtrmm``, ``dsyrk``, ``dpotrf``). The wheels on PyPI bundle two separate
OpenBLAS builds, one per package, each with its own pool of worker threads,
and an OpenBLAS worker keeps spinning for a while after each call. A step that
alternates between the two libraries therefore has up to two spinning pools
competing with the thread doing the work: on 2 cores the 64- and
256-dimensional steps of ``benchmarks/em_step.py`` took 1.5-2.6x as long with
the default threads (``--no-pool-fix``) as under :func:`one_blas_pool`.

:func:`one_blas_pool` keeps a single multi-threaded pool for the duration of a
fit: SciPy's, which runs the large-view kernels, keeps its threads and NumPy's
gets one. Where both packages load the same BLAS library (conda, system
OpenBLAS), or where threadpoolctl cannot tell them apart, nothing changes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController


def _package_of(filepath: str) -> str | None:
    parts = os.path.normpath(filepath).split(os.sep)
    for package in ("numpy", "scipy"):
        if any(p in (package, f"{package}.libs") for p in parts):
            return package
    return None


#: NumPy's and SciPy's BLAS controllers, found once per process: finding them
#: reads the process's memory map (about 3 ms, as long as a whole fit of
#: 272 x 2 data), while the libraries NumPy and SciPy load never change.
_POOLS: tuple[list, list] | None = None


def _pools() -> tuple[list, list]:
    global _POOLS
    if _POOLS is None:
        import scipy.linalg  # noqa: F401  (SciPy's BLAS is loaded before the search)

        blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        _POOLS = ([lib for lib in blas if _package_of(lib.filepath) == "numpy"],
                  [lib for lib in blas if _package_of(lib.filepath) == "scipy"])
    return _POOLS


@contextlib.contextmanager
def one_blas_pool() -> Iterator[None]:
    """Limit NumPy's own BLAS to one thread while SciPy has a separate one."""
    numpy_libs, scipy_libs = _pools()
    if not numpy_libs or not scipy_libs:
        yield
        return
    before = [lib.num_threads for lib in numpy_libs]
    for lib in numpy_libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(numpy_libs, before):
            lib.set_num_threads(n)
