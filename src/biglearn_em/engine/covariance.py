"""Covariance types: how each stores its covariances, sees them through a
view, pools a view's M-step and writes it back.

The four types have scikit-learn's meanings. Their covariances are stored
(in the engine's internal units, as arrays of the fit's backend) as

========== ============== =============================================
type       stored shape   public shape (``covariances_``)
========== ============== =============================================
full       (K, D, D)      (K, D, D)
tied       (1, D, D)      (D, D): one matrix shared by all components
diag       (K, D)         (K, D): the variances of a diagonal matrix
spherical  (K,)           (K,): one variance per component
========== ============== =============================================

so that the backends' kernels (:mod:`biglearn_em.backends.base`) tell matrices (ndim 3) from
variances (ndim 1 or 2) by shape alone, and a tied covariance is a stack of
one matrix that broadcasts against the K components.

A view ``P`` (m x D, orthonormal rows) sees a component as ``N(P mu, P S P.T)``:

- the joint and a marginal view keep the structure (a sub-matrix of a full
  or tied covariance, a subset of the variances of a diagonal one);
- a rotated view keeps it for full, tied (``P S P.T`` is shared) and
  spherical covariances (``P s I P.T = s I``), but turns a diagonal one into
  a full matrix ``P diag(s) P.T``: that view's E-step and M-step are full.

The M-step in the view is per component and is then *pooled* into the type:
the tied covariance is the weighted mean of the components' (scikit-learn's
estimate), the spherical variance the mean of the diagonal ones.

The write-back returns to the type's family by the closest member in
Kullback-Leibler divergence, ``argmin_q KL(p || q)`` over the family, which
matches second moments. Applied to the full-rule update
``S' = S + L`` (``L = P.T dS P`` for the block rule, ``B dS B.T`` with
``B = S P.T S_v^-1`` for the conditional rule): a diagonal covariance keeps
``diag(S')``, a spherical one ``tr(S') / D``, and a tied one stays exact
(one matrix, the same update). For marginal views of diagonal and spherical
covariances both rules coincide (``B = P.T``). The written-back model is an
ordinary member of its type, whose likelihood the next joint view scores like
any other (the snapshots and the polish compare nothing else).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .views import View, write_back

#: The covariance types, as ``covariance_type`` names them.
NAMES = ("full", "tied", "diag", "spherical")


class CovarianceType:
    """What differs between covariance types; arrays are of any backend
    unless a method says host (NumPy)."""

    name = "abstract"
    #: Whether the write-back projects the full rule's update onto the type
    #: (diagonal, spherical): a projection does not keep the eigenvalue
    #: floor, so the engine floors its result (without it, rotated views took
    #: diagonal variances on Pendigits to half the floor).
    projects = False

    def n_parameters(self, K: int, D: int) -> int:
        """Free parameters of the covariances of K components in D dimensions."""
        raise NotImplementedError

    def shape(self, K: int, D: int) -> tuple[int, ...]:
        """scikit-learn's shape of ``covariances_`` (and ``precisions_``)."""
        raise NotImplementedError

    def diagonal(self, view: View) -> bool:
        """Whether the E-step on ``view`` has diagonal covariances."""
        raise NotImplementedError

    def view_params(self, view: View, means, covs) -> tuple[Any, Any]:
        """The means (K, m) and stored covariances seen through ``view``: in
        this type's storage, except a rotated view of diagonal ones (K, m, m)."""
        raise NotImplementedError

    def factors(self, be, prec_chol_v, K: int, m: int) -> Any:
        """Per-component precision factors for the E-step's whitener: (K, m, m)
        matrices or (K, m) inverse standard deviations."""
        return prec_chol_v

    def pool(self, weights, covs) -> Any:
        """The view's per-component M-step covariances, (K, m, m) or (K, m), in
        this type's storage (before the eigenvalue floor)."""
        return covs

    def write_back(self, be, view: View, means, covs, old_view, new_view, rule: str
                   ) -> tuple[Any, Any]:
        """The full means (K, D) and stored covariances after a view's M-step
        (see :func:`biglearn_em.engine.views.write_back` for the arguments)."""
        raise NotImplementedError

    def dense(self, covs: np.ndarray, K: int, D: int) -> np.ndarray:
        """Host covariances as K full matrices (K, D, D)."""
        raise NotImplementedError

    def from_dense(self, weights: np.ndarray, covs: np.ndarray) -> np.ndarray:
        """The closest member of this type (in KL) to full host covariances
        (K, D, D) of components with ``weights`` (K,)."""
        raise NotImplementedError

    def public(self, stored):
        """Stored covariances (or precision factors) in scikit-learn's shape."""
        return stored

    def stored(self, public):
        """scikit-learn's shape back to the stored one."""
        return public

    def m_step(self, be, stats, reg_covar: float, eig_floor: float):
        """Weights (K,), means (K, m) and floored covariances of this type
        (pooled, then floored) from the statistics of a view."""
        weights, means, covs = be.m_step(stats, reg_covar, 0.0)
        return weights, means, be.floor_eigenvalues(self.pool(weights, covs), eig_floor)

    def __repr__(self) -> str:
        return f"covariance type {self.name!r}"


class Full(CovarianceType):
    name = "full"

    def n_parameters(self, K, D):
        return K * D * (D + 1) // 2

    def shape(self, K, D):
        return (K, D, D)

    def diagonal(self, view):
        return False

    def view_params(self, view, means, covs):
        return view.params(means, covs)

    def write_back(self, be, view, means, covs, old_view, new_view, rule):
        return write_back(be, view, means, covs, old_view, new_view, rule)

    def dense(self, covs, K, D):
        return covs

    def from_dense(self, weights, covs):
        return covs


class Tied(Full):
    """One matrix (1, D, D) for every component; the full formulas broadcast."""

    name = "tied"

    def n_parameters(self, K, D):
        return D * (D + 1) // 2

    def shape(self, K, D):
        return (D, D)

    def factors(self, be, prec_chol_v, K, m):
        return prec_chol_v[be.index(np.zeros(K, dtype=np.int64))]

    def pool(self, weights, covs):
        # sum_k w_k (S_k + reg I) = (sum_k scatter_k) / N + reg I: scikit-learn's estimate
        return (weights[:, None, None] * covs).sum(0)[None]

    def dense(self, covs, K, D):
        return np.broadcast_to(covs, (K,) + covs.shape[1:]).copy()

    def from_dense(self, weights, covs):
        return np.einsum("k,kij->ij", weights / weights.sum(), covs)[None]

    def public(self, stored):
        return stored[0]

    def stored(self, public):
        return public[None]


class Diag(CovarianceType):
    name = "diag"
    projects = True

    def n_parameters(self, K, D):
        return K * D

    def shape(self, K, D):
        return (K, D)

    def diagonal(self, view):
        return view.basis is None

    def view_params(self, view, means, covs):
        if view.basis is None:
            return view.vectors(means), view.variances(covs)
        P = view.basis  # P diag(s) P.T: full in the view
        return view.vectors(means), (P * covs[:, None, :]) @ P.T

    def write_back(self, be, view, means, covs, old_view, new_view, rule):
        new_means_v, new_covs_v = new_view
        if view.kind == "joint":
            return new_means_v, new_covs_v
        means_v, covs_v, prec_chol_v = old_view
        d_means, d_covs = new_means_v - means_v, new_covs_v - covs_v
        if view.basis is None:  # marginal: both rules set the view's coordinates
            return (means + view.lift_vectors(be, d_means),
                    covs + view.lift_vectors(be, d_covs))
        P = view.basis
        if rule == "block":
            # diag(P.T dS P) as a product and a sum: one GEMM (NumPy's three-operand
            # einsum loops without BLAS: 12 s against 0.9 s at K = 10, m = 700, D = 784)
            return means + d_means @ P, covs + ((d_covs @ P) * P).sum(1)
        # B = diag(s) P.T S_v^{-1}; diag(B dS B.T) = row sums of (B dS) * B
        B = ((covs[:, :, None] * P.T) @ prec_chol_v) @ prec_chol_v.swapaxes(-1, -2)
        return means + (B @ d_means[..., None])[..., 0], covs + ((B @ d_covs) * B).sum(-1)

    def dense(self, covs, K, D):
        return covs[:, :, None] * np.eye(D)

    def from_dense(self, weights, covs):
        return np.diagonal(covs, axis1=1, axis2=2).copy()


class Spherical(CovarianceType):
    name = "spherical"
    projects = True

    def n_parameters(self, K, D):
        return K

    def shape(self, K, D):
        return (K,)

    def diagonal(self, view):
        return True

    def view_params(self, view, means, covs):
        return view.vectors(means), covs  # P (s I) P.T = s I in every view

    def factors(self, be, prec_chol_v, K, m):
        return prec_chol_v[:, None] + be.zeros((1, m))

    def pool(self, weights, covs):
        return covs.mean(1)

    def write_back(self, be, view, means, covs, old_view, new_view, rule):
        new_means_v, new_covs_v = new_view
        if view.kind == "joint":
            return new_means_v, new_covs_v
        means_v, covs_v, _ = old_view
        # both rules: B = s P.T / s = P.T; tr(s I + (s' - s) P.T P) / D
        return (means + view.lift_vectors(be, new_means_v - means_v),
                covs + (new_covs_v - covs_v) * (view.m / view.n_features))

    def dense(self, covs, K, D):
        return covs[:, None, None] * np.eye(D)

    def from_dense(self, weights, covs):
        return np.trace(covs, axis1=1, axis2=2) / covs.shape[1]


TYPES = {cls.name: cls() for cls in (Full, Tied, Diag, Spherical)}


def covariance_type(name: str) -> CovarianceType:
    """The :class:`CovarianceType` called ``name`` (one of :data:`NAMES`)."""
    return TYPES[name]
