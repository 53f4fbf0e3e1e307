"""What a fitted mixture says about rows: their log-densities, components
and posteriors, chunk by chunk on a backend (:func:`per_row`), and samples
drawn from it (:func:`sample`). The estimator's ``predict*``, ``score*`` and
``sample`` are these; the fit computes ``labels_`` with them on its own data."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._inputs import Returns, numpy_dtype, to_host
from ._kinds import is_torch_tensor
from .backends import Backend, select_backend
from .engine import Data, covariance_type, missing
from .engine.missing import fill_gaps, may_have_gaps


def per_row(model, X, what: str, data: Data | None = None) -> Any:
    """``what`` for every row of validated X, as an array of its backend (a
    lazy dask array for a dask array): "labels" (N,), the most probable
    component; "log_density" (N,); "proba" (N, K), the posteriors.
    ``data``: X already on a backend, read as it is (a fit's own data)."""
    if data is None:
        be = inference_backend(model, X)
        data = Data.unscaled(X, model.chunk_size, be, model.n_components)
    be = data.backend

    def param(a):
        return be.asarray(a if be.name == "torch" and is_torch_tensor(a) else to_host(a))

    cov = covariance_type(model._fitted_type())
    prec_chol = cov.factors(be, cov.stored(param(model.precisions_cholesky_)),
                            *model.means_.shape)
    wh = be.whitener(param(model.weights_), param(model.means_), prec_chol, inference=True)
    # rows with missing values are explained by their observed part
    gappy = (param(model.weights_), param(model.means_),
             cov.stored(param(model.covariances_)))
    width = model.n_components if what == "proba" else None
    return data.map_rows(_rows_of, (wh, gappy, what, not be.in_process), width,
                         np.int64 if what == "labels" else np.float64)


def inference_backend(model, X) -> Backend:
    """The backend predictions on X run on (``device`` and the kind of X)."""
    return select_backend(model.device, X, model.dtype, model.device_budget,
                          model.n_components)


def sample(model, n_samples: int):
    """Draw ``n_samples`` rows and their components from the fitted ``model``
    (see :meth:`BigLearnGaussianMixture.sample <biglearn_em.BigLearnGaussianMixture.sample>`)."""
    check_is_fitted(model)
    # scikit-learn's words ("Invalid value for 'n_samples'"), then what is expected
    what = f"Invalid value for 'n_samples': {n_samples!r}; it must be an int >= 1."
    if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool):
        raise TypeError(what)
    if n_samples < 1:
        raise ValueError(what)
    returns = Returns.like(model.means_)
    weights, means, covs = (to_host(a).astype(float) for a in
                            (model.weights_, model.means_, model.covariances_))
    cov = covariance_type(model._fitted_type())
    covs = cov.dense(cov.stored(covs), *means.shape)
    # a Generator cannot seed a RandomState; both offer multinomial and standard_normal
    rs = model.random_state
    rng = rs if isinstance(rs, np.random.Generator) else check_random_state(rs)
    counts = rng.multinomial(n_samples, weights / weights.sum())
    y = np.concatenate([np.full(c, k, dtype=int) for k, c in enumerate(counts)])
    be = inference_backend(model, model.means_)
    z = be.asarray(rng.standard_normal((n_samples, means.shape[1])))
    lower = be.cholesky(be.asarray(covs))
    mu = be.asarray(means)
    X = be.concat([mu[k] + z[s - c : s] @ lower[k].T
                   for k, (c, s) in enumerate(zip(counts, np.cumsum(counts)))])
    return returns(X, numpy_dtype(model.means_)), returns(y)


def _rows_of(part: Data, wh, gappy: tuple, what: str, unvalidated: bool) -> Any:
    """``what`` (see :func:`per_row`) for the rows of one part of the data, chunk
    by chunk; a row with missing values (NaN) by the marginal of its observed
    part (``gappy``: the weights, means and stored covariances). ``unvalidated``:
    raise on infinity here (a dask array's blocks are checked as they are
    computed, not when X is validated)."""
    be = part.backend
    out = []
    for Z in part.gappy_chunks():
        if unvalidated and bool((abs(Z) == np.inf).any()):
            raise ValueError("Input X contains infinity or a value too large for "
                             "dtype('float64').")
        if may_have_gaps(be, Z) and bool((gaps := Z != Z).any()):
            empty = be.count(gaps.all(1))
            if empty:
                raise missing.empty_rows(empty)
            # complete rows as complete data are read (a row's result does not
            # depend on the rows beside it), rows with gaps by their observed part
            log_prob = be.log_prob(fill_gaps(be, Z, gaps), wh)
            rows = be.nonzero(gaps.any(1))
            log_prob[:, rows] = missing.log_prob(be, Z[rows], *gappy)
        else:
            log_prob = be.log_prob(Z, wh)
        if what == "labels":
            out.append(log_prob.argmax(0))
            continue
        norm = be.log_normalize(log_prob)
        out.append(norm if what == "log_density" else be.exp(log_prob.T))
    return be.concat(out)
