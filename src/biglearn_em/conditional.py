"""Marginal and conditional laws of a fitted Gaussian mixture, in closed form.

For a mixture ``sum_k pi_k N(mu_k, S_k)`` and the columns split into given
ones ``A`` and the rest ``B``:

- the marginal of ``A`` is ``sum_k pi_k N(mu_kA, S_kAA)``: the same weights,
  and a sub-matrix (or a subset of the variances) of each covariance, so the
  covariance type is kept;
- the law of ``x_B`` given ``x_A`` is again a mixture, ``sum_k w_k N(m_k, C_k)``, with
  ``w_k ∝ pi_k N(x_A; mu_kA, S_kAA)`` (each component's density of the given part),
  ``m_k = mu_kB + S_kBA S_kAA^-1 (x_A - mu_kA)`` and the Schur complement
  ``C_k = S_kBB - S_kBA S_kAA^-1 S_kAB``, which does not depend on ``x_A``.

With ``L_k`` the lower Cholesky factor of ``S_kAA`` and ``W_k = L_k^-1 S_kAB``:
``m_k = mu_kB + W_k.T L_k^-1 (x_A - mu_kA)`` and ``C_k = S_kBB - W_k.T W_k``,
symmetric by construction, one triangular solve per factor and no inverse.
Diagonal and spherical covariances have ``S_kBA = 0``: ``m_k = mu_kB`` and
``C_k = S_kBB`` stay diagonal (a spherical ``C_k`` is the same variance); a tied
covariance gives one ``C`` shared by the components (``m_k`` still differ).

Everything here is host NumPy in float64, on the covariances in their stored
shapes (:mod:`biglearn_em.engine.covariance`: full (K, D, D), tied (1, D, D),
diag (K, D), spherical (K,)), so the code tells matrices from variances by
``ndim`` as the kernels do. The estimator's methods
(:meth:`~biglearn_em.BigLearnGaussianMixture.marginal`, ``condition``,
``impute``) are thin wrappers of the functions at the end of this module,
which read the fitted estimator they are handed and build new ones with
``clone``: this module does not import :mod:`biglearn_em.mixture`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._inputs import Returns, numpy_dtype, to_host
from ._kinds import is_dask_array, is_foreign_array, is_torch_tensor
from .backends import precision_cholesky, precisions_from_cholesky
from .engine import covariance_type

LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class Mixture:
    """A mixture's parameters on the host in float64: ``weights`` (K,),
    ``means`` (K, D) and ``covs`` in the stored shape of ``covariance_type``."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    covariance_type: str


@dataclass(frozen=True)
class Conditional:
    """The law of the rest ``x_B`` given each of n rows ``x_A``: a mixture per
    row, with ``weights`` (n, K) and ``means`` (n, K, b), and covariances
    ``covs`` (stored shape, b dimensions) shared by all rows."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    def mean(self) -> np.ndarray:
        """The mean of each row's mixture, ``sum_k w_k m_k``, (n, b)."""
        return np.einsum("nk,nkb->nb", self.weights, self.means)

    def variance(self) -> np.ndarray:
        """The variances of each row's mixture, (n, b): the diagonal of
        ``sum_k w_k (C_k + (m_k - m)(m_k - m).T)``, written about the mean
        ``m`` rather than as ``E[x^2] - m^2``, which cancels."""
        spread = self.means - self.mean()[:, None, :]
        return np.einsum("nk,nkb->nb", self.weights, variances(self.covs, *self.means.shape[1:])
                         + spread**2)

    def draw(self, rng) -> np.ndarray:
        """One draw from each row's mixture, (n, b): a component by its
        weight, then ``m_k + chol(C_k) z``. ``rng``: a ``Generator`` or a
        ``RandomState`` (both have ``random`` and ``standard_normal``)."""
        n, K, b = self.means.shape
        picks = np.minimum((np.cumsum(self.weights, 1) < rng.random(n)[:, None]).sum(1), K - 1)
        z = rng.standard_normal((n, b))
        if self.covs.ndim < 3:  # independent coordinates: scale each by its deviation
            noise = np.sqrt(variances(self.covs, K, b)[picks]) * z
        else:
            lower = np.broadcast_to(np.linalg.cholesky(self.covs), (K, b, b))
            noise = np.empty_like(z)
            for k in range(K):  # a product per component, not a (n, b, b) stack
                rows = picks == k
                noise[rows] = z[rows] @ lower[k].T
        return self.means[np.arange(n), picks] + noise


def variances(covs: np.ndarray, K: int, b: int) -> np.ndarray:
    """The diagonal of each of K stored covariances of b dimensions, (K, b)."""
    if covs.ndim == 3:
        return np.broadcast_to(np.diagonal(covs, axis1=1, axis2=2), (K, b))
    return np.broadcast_to(covs if covs.ndim == 2 else covs[:, None], (K, b))


def marginal(mix: Mixture, columns: np.ndarray) -> Mixture:
    """The mixture of ``columns`` (in that order), of the same covariance type."""
    covs = mix.covs
    if covs.ndim == 3:
        covs = covs[:, columns][:, :, columns]
    elif covs.ndim == 2:
        covs = covs[:, columns]
    return Mixture(mix.weights, mix.means[:, columns], covs, mix.covariance_type)


def conditional(mix: Mixture, given: np.ndarray, rows: np.ndarray,
                rest: np.ndarray) -> Conditional:
    """The law of the columns ``rest`` given the values ``rows`` (n, a) at the
    columns ``given`` (the two disjoint, both non-empty)."""
    seen, hidden = marginal(mix, given), marginal(mix, rest)
    K, a = seen.means.shape
    # the rows as (K, a, n): the triangular solves then take every row at once
    diff = rows.T[None] - seen.means[:, :, None]
    if mix.covs.ndim < 3:
        var = variances(seen.covs, K, a)
        log_density = -0.5 * (np.einsum("kan,ka->kn", diff**2, 1.0 / var)
                              + np.log(var).sum(1)[:, None] + a * LOG_2PI)
        means = np.broadcast_to(hidden.means, (len(rows),) + hidden.means.shape)
        covs = hidden.covs
    else:
        lower = np.linalg.cholesky(seen.covs)  # (K, a, a), or (1, a, a) tied
        white = _lower_solve(lower, diff)  # L_k^-1 (x_A - mu_kA), (K, a, n)
        W = _lower_solve(lower, mix.covs[:, given][:, :, rest])  # L_k^-1 S_kAB, (K', a, b)
        log_det = 2.0 * np.log(np.diagonal(lower, axis1=1, axis2=2)).sum(1)
        log_density = -0.5 * ((white**2).sum(1) + log_det[:, None] + a * LOG_2PI)
        means = (W.swapaxes(1, 2) @ white).transpose(2, 0, 1) + hidden.means
        covs = hidden.covs - W.swapaxes(1, 2) @ W
    log_weights = np.log(mix.weights)[None] + log_density.T
    weights = np.exp(log_weights - logsumexp(log_weights, axis=1, keepdims=True))
    return Conditional(weights, means, covs)


def _lower_solve(lower: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``L_k^-1 B_k`` for lower factors (K', a, a) and right-hand sides (K, a, c); one
    factor (tied) serves all K in one solve."""
    if len(lower) == len(B):
        return np.stack([solve_triangular(L, rhs, lower=True) for L, rhs in zip(lower, B)])
    K, a, c = B.shape
    flat = solve_triangular(lower[0], B.transpose(1, 0, 2).reshape(a, K * c), lower=True)
    return flat.reshape(a, K, c).transpose(1, 0, 2)


def chunks(n: int, mix: Mixture) -> list[slice]:
    """Slices of n rows whose conditional laws hold about 8 MiB each (the
    working arrays are (K, D) per row)."""
    size = max(1, (1 << 20) // mix.means.size)
    return [slice(start, start + size) for start in range(0, n, size)]


def moments(mix: Mixture, given: np.ndarray, rows: np.ndarray,
            rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the variances (each (n, b)) of the columns ``rest`` given
    each of the rows (n, a) at ``given``, computed chunk by chunk."""
    laws = [conditional(mix, given, rows[part], rest) for part in chunks(len(rows), mix)]
    return (np.concatenate([law.mean() for law in laws]),
            np.concatenate([law.variance() for law in laws]))


def fill(mix: Mixture, X: np.ndarray, rng=None) -> None:
    """Fill the NaN of X (n, D) in place: each with its conditional mean given
    its row's observed values, or (``rng``) one draw from the conditional law.
    Rows are grouped by which columns are missing: one closed form per group
    (and chunk)."""
    missing = np.isnan(X)
    patterns, group = np.unique(missing, axis=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        given, rest = np.flatnonzero(~pattern), np.flatnonzero(pattern)
        members = np.flatnonzero(group.ravel() == p)
        for part in chunks(len(members), mix):
            rows = members[part]
            law = conditional(mix, given, X[np.ix_(rows, given)], rest)
            X[np.ix_(rows, rest)] = law.mean() if rng is None else law.draw(rng)


# ------------------------------------------------------- on a fitted estimator
def mixture_of(model) -> Mixture:
    """The fitted parameters of ``model`` (a fitted BigLearnGaussianMixture)."""
    check_is_fitted(model)
    kind = model._fitted_type()
    weights, means, covs = (to_host(a).astype(np.float64) for a in
                            (model.weights_, model.means_, model.covariances_))
    return Mixture(weights, means, covariance_type(kind).stored(covs), kind)


def columns(model, features, name: str = "features") -> np.ndarray:
    """``features`` (one or a sequence of column indices in [0, n_features_in_),
    or of names of ``feature_names_in_``) as distinct indices, in the order given."""
    check_is_fitted(model)
    D = model.n_features_in_
    names = getattr(model, "feature_names_in_", None)
    items = [features] if np.ndim(features) == 0 else list(np.asarray(features, dtype=object))
    if not items:
        raise ValueError(f"{name} is empty; expected at least one column index or name.")
    if all(isinstance(f, str) for f in items):
        if names is None:
            raise ValueError(f"{name} names columns {items}, but the model was fitted without "
                             "column names (no feature_names_in_); give column indices.")
        where = {str(n): i for i, n in enumerate(names)}
        unknown = [f for f in items if f not in where]
        if unknown:
            raise ValueError(f"{name} names columns {unknown} that the model was not fitted "
                             f"on; its columns are {list(where)}.")
        found = np.array([where[f] for f in items])
    elif all(isinstance(f, (int, np.integer)) and not isinstance(f, (bool, np.bool_))
             for f in items):
        found = np.array(items, dtype=np.int64)
        outside = [int(i) for i in found if not 0 <= i < D]
        if outside:
            raise ValueError(f"{name} has indices {outside} out of range; the model has {D} "
                             f"columns (indices 0 to {D - 1}).")
    else:
        raise TypeError(f"{name} must be column indices (int) or column names (str), not "
                        f"a mix or other types; got {items!r}.")
    values, counts = np.unique(found, return_counts=True)
    if (counts > 1).any():
        twice = [items[int(np.flatnonzero(found == v)[0])] for v in values[counts > 1]]
        raise ValueError(f"{name} names columns {twice} more than once.")
    return found


def fitted_model(model, mix: Mixture, kept: np.ndarray):
    """A fitted estimator like ``model`` (its parameters, minus the initial
    arrays and the checkpoint, which belong to D columns) holding ``mix``, the
    law of ``model``'s columns ``kept``: predictions, scores and samples of
    those columns. It derives from ``model``'s fit (``converged_``,
    ``n_iter_``) but was fitted to no data of its own: ``lower_bound_`` is
    NaN and ``lower_bounds_`` and ``history_`` are empty."""
    new = clone(model).set_params(covariance_type=mix.covariance_type, weights_init=None,
                                  means_init=None, precisions_init=None, checkpoint=None)
    cov = covariance_type(mix.covariance_type)
    prec_chol = precision_cholesky(mix.covs)
    precisions = precisions_from_cholesky(prec_chol)
    returns, dtype = Returns.like(model.means_), numpy_dtype(model.means_)
    for attr, value in (("weights_", mix.weights), ("means_", mix.means),
                        ("covariances_", cov.public(mix.covs)),
                        ("precisions_cholesky_", cov.public(prec_chol)),
                        ("precisions_", cov.public(precisions))):
        # copies, C-ordered: never a (read-only) view of the model's or the law's arrays
        setattr(new, attr, returns(np.array(value, dtype=dtype, order="C")))
    new._covariance_type = mix.covariance_type  # as Fit.write_result and persist record it
    new.n_features_in_ = len(kept)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        new.feature_names_in_ = np.asarray(names)[kept]
    for attr in ("converged_", "n_iter_", "n_em_steps_"):
        if hasattr(model, attr):
            setattr(new, attr, getattr(model, attr))
    new.lower_bound_, new.lower_bounds_, new.history_ = float("nan"), [], []
    return new


def marginal_model(model, features):
    """``model.marginal(features)``: see there."""
    kept = columns(model, features)
    return fitted_model(model, marginal(mixture_of(model), kept), kept)


def condition_model(model, features, values):
    """``model.condition(features, values)``: see there."""
    given = columns(model, features)
    D = model.n_features_in_
    if len(given) == D:
        raise ValueError(f"features names all {D} columns of the model; condition needs at "
                         "least one column left to describe.")
    point = _values(values, len(given))
    rest = np.setdiff1d(np.arange(D), given)
    mix = mixture_of(model)
    law = conditional(mix, given, point[None], rest)
    return fitted_model(model, Mixture(law.weights[0], law.means[0], law.covs,
                                       mix.covariance_type), rest)


def _values(values, n: int) -> np.ndarray:
    """``values`` of ``condition``: n finite numbers (a scalar when n = 1)."""
    point = np.asarray(to_host(values) if is_torch_tensor(values) else values)
    if point.dtype.kind not in "biuf":
        raise TypeError(f"values must be numbers; got an array of dtype {point.dtype}.")
    point = np.atleast_1d(point).astype(np.float64)
    if point.shape != (n,):
        raise ValueError(f"values has shape {point.shape}; expected ({n},), one value per "
                         "column of features.")
    if not np.isfinite(point).all():
        raise ValueError(f"values must be finite; got {point.tolist()}.")
    return point


def impute(model, X, random_state=None) -> np.ndarray:
    """``model.impute(X, random_state)``: see there."""
    check_is_fitted(model)
    if is_torch_tensor(X) or is_dask_array(X) or is_foreign_array(X):
        X = to_host(X)  # read on the host (DataFrames keep their names for the check)
    X = validate_data(model, X, reset=False, dtype="numeric", ensure_all_finite="allow-nan")
    filled = X.astype(np.float64)  # a copy: X is the caller's
    empty = np.flatnonzero(np.isnan(filled).all(1))
    if len(empty):
        raise ValueError(f"X has {len(empty)} row{'' if len(empty) == 1 else 's'} with no "
                         "observed value (rows "
                         f"{empty[:5].tolist()}{', ...' if len(empty) > 5 else ''}); impute "
                         "needs at least one observed value per row.")
    rng = None if random_state is None else random_generator(random_state)
    fill(mixture_of(model), filled, rng)
    return filled.astype(X.dtype if X.dtype == np.float32 else np.float64, copy=False)


def random_generator(random_state) -> Any:
    """A ``Generator`` as it is; anything else as ``check_random_state`` reads it
    (an int seeds a ``RandomState``), as ``sample`` does."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return check_random_state(random_state)
