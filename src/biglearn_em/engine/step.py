"""One EM step on a view (:func:`view_step`: E-step on the view's data,
M-step in the view, write-back into the full parameters), the scoring pass
(:func:`score`) and the repair of covariances that stopped being positive
definite. Written once for every backend (``data.backend``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.base import Backend
from ..backends.kernels import smooth_weights
from . import missing
from .data import Data, Params, Settings
from .views import View, joint_view

#: Eigenvalue floor (internal units, i.e. relative to the mean feature
#: variance) used only to repair a covariance that stopped being positive definite.
REPAIR_FLOOR = 1e-10


def ensure_positive_definite(be: Backend, covs, floor: float) -> tuple[Any, int]:
    """Repair the covariances (K, m, m), or variances (K, m) or (K,), that a
    Cholesky factorisation rejects, or whose smallest eigenvalue is below
    ``REPAIR_FLOOR`` (numerically singular: their factorisation would fail
    again once mapped back to the units of X), by clipping their eigenvalues
    at ``max(floor, REPAIR_FLOOR)``, raised a hundredfold while rounding
    still defeats the factorisation.

    Returns the covariances and the number of components repaired.
    """
    bad = ~be.positive_definite(covs, REPAIR_FLOOR)
    n_bad = be.count(bad)
    if n_bad == 0:
        return covs, 0
    fixed = be.copy(covs)
    # matrices restart at the identity, variances (diagonal, spherical) at 1
    eye = be.eye(fixed.shape[-1]) if fixed.ndim == 3 else 1.0
    level = max(floor, REPAIR_FLOOR)
    for _ in range(6):
        finite = be.finite_matrices(fixed[bad])
        # a non-finite matrix has no spectrum to clip: restart it at the data's scale
        fixed[be.nonzero(bad)[~finite]] = eye
        fixed[bad] = be.floor_eigenvalues(fixed[bad], level)
        bad = ~be.positive_definite(fixed, REPAIR_FLOOR)
        if be.count(bad) == 0:
            return fixed, n_bad
        level *= 100.0
    fixed[bad] = eye
    return fixed, n_bad


def safe_precision_cholesky(be: Backend, covs, floor: float) -> tuple[Any, Any, int]:
    """Precision Cholesky factors, repairing matrices that are not positive definite.

    Returns the (possibly repaired) covariances (K, m, m), their factors
    (K, m, m) and the number of components that needed the repair.
    """
    prec_chol, ok = be.precision_cholesky(covs)
    if be.count(~ok) == 0:
        return covs, prec_chol, 0
    fixed, repaired = ensure_positive_definite(be, covs, floor)
    return fixed, be.precision_cholesky(fixed)[0], repaired


def view_step(
    data: Data, params: Params, view: View, settings: Settings, smoothing: float
) -> tuple[Params, float, int]:
    """One EM step on ``view``: E-step on ``Y = X P.T``, M-step in the view, write-back.

    ``view`` is drawn on the host (NumPy) and put on the data's backend here.
    Returns the new parameters, the mean log-likelihood of the view data (in
    the units of the original data) under the parameters the step started
    from, and the number of repaired components.
    """
    return _step(data, params, view, settings, smoothing)[:3]


def exact_step(data: Data, params: Params, settings: Settings
               ) -> tuple[Params, float, float, int, int]:
    """The one EM step of a single component on complete data, whose result is
    the maximum likelihood: the new parameters, the mean log-likelihood of
    ``params`` (the E-step's) and of the new ones, the repairs and the steps
    (2 from a start far from the rows, see :data:`LOST_DIGITS`).

    The second likelihood is a closed form of the step's own statistics, not
    a second pass: with every responsibility 1 the statistics hold the rows'
    mean and scatter ``S``, and the mean log-density of the rows under
    ``N(mean, Sigma)`` is ``-(D log 2 pi + log det Sigma + tr(Sigma^-1 S)) / 2``,
    whatever floor or ``reg_covar`` made ``Sigma`` differ from ``S``."""
    D = data.n_features
    new, ll, repaired, stats = _step(data, params, joint_view(D), settings, 0.0)
    shift, scatter = _mean_and_scatter(data.backend, stats)
    steps = 1
    # the digits the scatter lost: eps of the chunks' dtype times shift^2 / spread
    # (a constant column's spread counts as the repair floor: its shift is rounding)
    eps = float(np.finfo(np.dtype(data.backend.dtype)).eps)
    lost = eps * np.max(shift * shift / np.maximum(np.diag(scatter), REPAIR_FLOOR))
    if lost > max(LOST_DIGITS, FAR_FACTOR * eps):
        # the moments were taken about a start far from the rows: the scatter
        # lost digits to cancellation (0.11 relative at 1e7 standard deviations),
        # in the M-step too; one more step takes them about the rows' own mean
        new, _, more, stats = _step(data, new, joint_view(D), settings, 0.0)
        repaired, steps = repaired + more, 2
        shift, scatter = _mean_and_scatter(data.backend, stats)
    be = data.backend
    sigma = settings.covariance.dense(be.to_numpy(new.covs), 1, D)[0]
    lower = np.linalg.cholesky(sigma)
    log_det = 2.0 * np.log(np.diag(lower)).sum()
    trace = np.trace(np.linalg.solve(sigma, scatter))
    new_ll = -0.5 * (D * np.log(2 * np.pi) + log_det + trace) - D * np.log(data.scale)
    return new, ll, float(new_ll), repaired, steps


#: A start far from the rows takes a second step in :func:`exact_step`: when
#: the moments about it lose more than this relative precision to
#: cancellation (``eps * shift^2 / variance``; float64: more than about 70
#: standard deviations away) ...
LOST_DIGITS = 1e-12
#: ... or, in float32, more than this many times its own rounding (3 standard
#: deviations): float32 moments are only that good about the rows' own mean.
FAR_FACTOR = 10.0


def _mean_and_scatter(be, stats) -> tuple[np.ndarray, np.ndarray]:
    """Of one component's statistics (host arrays): the offset of the rows'
    mean from the centre the moments were taken about (D,), and their scatter
    about their mean (D, D): the backend's M-step without ``reg_covar`` or a
    floor."""
    _, means, raw = be.m_step(stats, 0.0, 0.0)
    shift = be.to_numpy(means)[0] - be.to_numpy(stats.centers)[0]
    raw = be.to_numpy(raw)[0]
    return shift, np.diag(raw) if stats.diagonal else raw


def _step(data: Data, params: Params, view: View, settings: Settings, smoothing: float
          ) -> tuple[Params, float, int, Any]:
    """:func:`view_step`, and the statistics of its E-step."""
    be = data.backend
    cov = settings.covariance
    view = view.on(be)
    means_v, covs_v = cov.view_params(view, params.means, params.covs)
    covs_v, prec_chol_v, repaired = safe_precision_cholesky(be, covs_v, settings.eig_floor)
    K = means_v.shape[0]
    wh = be.whitener(params.weights, means_v, cov.factors(be, prec_chol_v, K, view.m))
    if data.missing:
        stats = data.reduce(_gappy_e_step_part, (view, wh, params, means_v, covs_v,
                                                 cov.diagonal(view), float(np.log(data.scale))))
    else:
        stats = data.reduce(_e_step_part, (view, wh, means_v, cov.diagonal(view)))
    be.finish(stats)
    weights, new_means_v, new_covs_v = cov.m_step(be, stats, settings.reg_covar,
                                                  settings.eig_floor)
    means, covs = cov.write_back(
        be,
        view,
        params.means,
        params.covs,
        (means_v, covs_v, prec_chol_v),
        (new_means_v, new_covs_v),
        settings.update,
    )
    if view.kind != "joint" and (settings.update == "block" or cov.projects):
        covs = be.floor_eigenvalues(covs, settings.eig_floor)
    # every step hands on positive definite covariances (without a floor an
    # M-step on collapsed or collinear data can yield singular ones)
    covs, fixed = ensure_positive_definite(be, covs, settings.eig_floor)
    new = Params(smooth_weights(weights, smoothing), means, covs)
    ll = float(be.item(stats.ll) / stats.n - view.m * np.log(data.scale))
    return new, ll, repaired + fixed, stats


def score(data: Data, params: Params, settings: Settings) -> float:
    """The mean log-likelihood of ``data`` under ``params`` (one E-step pass)."""
    return view_step(data, params, joint_view(data.n_features), settings, 0.0)[1]


def _e_step_part(part: Data, view: View, wh, centers, diagonal: bool) -> Any:
    """The E-step statistics (``diagonal``: of diagonal covariances) of one
    part of the data seen through ``view``."""
    be = part.backend
    stats = be.new_stats(centers, diagonal)
    if part.weights is None:
        for Y in part.chunks(view):
            be.e_step(Y, wh, stats)
        return stats
    for Y, w in zip(part.chunks(view), part.weight_chunks()):
        be.e_step(Y, wh, stats, w)
    return stats


def _gappy_e_step_part(part: Data, view: View, wh, params: Params, means_v, covs_v,
                       diagonal: bool, log_scale: float) -> Any:
    """:func:`_e_step_part` of data with missing values. A chunk without
    gaps takes the kernel of complete data. Otherwise a joint or marginal view
    explains each row by the coordinates of the view it observes, exactly
    (:func:`biglearn_em.engine.missing.e_step`); a rotated view mixes every
    coordinate, so no rotated coordinate of a row with a gap is observed: the
    view sees the row completed by its conditional mean under the current
    model (single imputation, redone at every step; the joint steps and the
    polish that end a fit are exact)."""
    be = part.backend
    stats = be.new_stats(means_v, diagonal)
    K = means_v.shape[0]
    index = None if view.index is None else be.to_numpy(view.index)
    for Z, w, prepared in part.prepared_chunks(K):
        if prepared is None:
            be.e_step(Z if view.kind == "joint" else view.data(Z), wh, stats, w)
        elif view.kind == "rotated":
            Z = be.data_array(missing.complete(be, Z, params.weights, params.means, params.covs,
                                               prepared))
            be.e_step(view.data(Z), wh, stats, w)
        else:
            missing.e_step(be, None, None, params.weights, means_v, covs_v, stats, log_scale,
                           diagonal, prepared, index)
    return stats
