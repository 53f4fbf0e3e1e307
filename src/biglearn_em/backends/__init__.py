"""Backends: where the data live and the numeric kernels that compute on them.

- :mod:`.base`: the interface the engine computes through (:class:`Backend`);
- :mod:`.numpy` and :mod:`.kernels`: NumPy and SciPy on the host, with
  BLAS-specialised kernels;
- :mod:`.torch`: PyTorch on any device (imported only when used: PyTorch is
  optional);
- :mod:`.dask`: the NumPy kernels on the blocks of a dask array, on Dask's
  workers;
- :mod:`.select`: the one place a backend is chosen;
- :mod:`.blas`: the BLAS thread pools of a fit.

Backends never import the engine (:mod:`biglearn_em.engine`): the engine is
written over this interface, and a new backend inherits it whole. This module
is the backends' public face.
"""

from .base import DTYPES, Backend
from .blas import one_blas_pool
from .kernels import SuffStats, floor_eigenvalues, precision_cholesky, precisions_from_cholesky
from .numpy import NumpyBackend
from .select import AUTO_GPU_MIN_WORK, TORCH_MISSING, import_torch, select_backend

__all__ = [
    "AUTO_GPU_MIN_WORK", "DTYPES", "TORCH_MISSING", "Backend", "NumpyBackend", "SuffStats",
    "floor_eigenvalues", "import_torch", "one_blas_pool", "precision_cholesky",
    "precisions_from_cholesky", "select_backend",
]
