"""Views of the data: the joint, a marginal on a subset of coordinates, or a
marginal on a subset of a randomly rotated coordinate system.

A view is ``P`` (m x D) with orthonormal rows; data are seen as ``Y = X @ P.T``
and the mixture as ``(pi, mu @ P.T, P Sigma P.T)``. The joint view is ``P = I``
and a marginal view is a selection of rows of ``I``; both are applied by
indexing, never by a matrix product.

Views are drawn on the host from the fit's NumPy generator, whatever the
backend, so that a seed gives the same views everywhere; :meth:`View.on`
puts one on a backend. The methods use only operators and methods that NumPy
arrays and torch tensors share.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..backends.base import Backend

KINDS = ("joint", "marginal", "rotated")


@dataclass(frozen=True)
class View:
    """One view of D-dimensional data.

    Exactly one representation is set: nothing (joint), ``index`` (m,) sorted
    coordinates (marginal), or ``basis`` (m, D) orthonormal rows (rotated).
    They are NumPy arrays as drawn, or arrays of a backend after :meth:`on`,
    which also sets ``data_basis``: the basis in the dtype of the data chunks.
    """

    kind: str
    n_features: int
    index: Any = None
    basis: Any = None
    data_basis: Any = None

    def on(self, backend: Backend) -> View:
        """This view with its index or basis as arrays of ``backend``: the same
        object for every call with the same backend, so that the inner steps
        of one view read the data's chunks of that view, kept by
        :class:`biglearn_em.engine.data.Data` for small data, instead of
        projecting every chunk at every step."""
        if self.index is None and self.basis is None:
            return self
        memo = self.__dict__.get("_on")
        if memo is not None and memo[0] is backend:
            return memo[1]
        if self.index is not None:
            out = replace(self, index=backend.index(self.index))
        else:
            basis = backend.asarray(self.basis)
            out = replace(self, basis=basis, data_basis=backend.data_array(basis))
        object.__setattr__(self, "_on", (backend, out))  # a memo, not a field
        return out

    @property
    def m(self) -> int:
        if self.index is not None:
            return len(self.index)
        if self.basis is not None:
            return self.basis.shape[0]
        return self.n_features

    def data(self, X):
        """``X @ P.T``: (n, D) -> (n, m)."""
        if self.index is not None:
            return X[:, self.index]
        if self.basis is not None:
            basis = self.basis if self.data_basis is None else self.data_basis
            return X @ basis.T
        return X

    def params(self, means, covs) -> tuple[Any, Any]:
        """``mu @ P.T`` (K, m) and ``P Sigma P.T`` (K, m, m) (or (1, m, m)
        for one tied covariance (1, D, D))."""
        if self.index is not None:
            covs = covs[:, self.index[:, None], self.index]
        elif self.basis is not None:
            covs = self.basis @ covs @ self.basis.T
        return self.vectors(means), covs

    def vectors(self, a):
        """``a @ P.T``: rows (K, D) -> (K, m), means seen through the view."""
        if self.index is not None:
            return a[:, self.index]
        if self.basis is not None:
            return a @ self.basis.T
        return a

    def variances(self, variances):
        """The variances (K, D) of a marginal view's coordinates, (K, m)."""
        return variances if self.index is None else variances[:, self.index]

    def cross(self, covs):
        """``Sigma P.T``, shape (K, D, m)."""
        if self.index is not None:
            return covs[:, :, self.index]
        if self.basis is not None:
            return covs @ self.basis.T
        return covs

    def lift(self, backend: Backend, delta_means, delta_covs) -> tuple[Any, Any]:
        """``d_mu @ P`` (K, D) and ``P.T d_S P`` (K, D, D) (or (1, D, D)) for the
        view-space changes of a marginal or rotated view."""
        if self.basis is not None:
            P = self.basis
            return delta_means @ P, P.T @ delta_covs @ P
        D = self.n_features
        dS = backend.zeros((delta_covs.shape[0], D, D))
        idx = self.index
        dS[:, idx[:, None], idx] = delta_covs
        return self.lift_vectors(backend, delta_means), dS

    def lift_vectors(self, backend: Backend, delta):
        """``delta @ P`` (K, D) for view-space rows ``delta`` (K, m): mean
        changes, or variance changes of a marginal view's coordinates."""
        if self.basis is not None:
            return delta @ self.basis
        out = backend.zeros((delta.shape[0], self.n_features))
        out[:, self.index] = delta
        return out


def joint_view(n_features: int) -> View:
    """The joint view on all ``n_features`` coordinates, in the original basis: a
    ``view_step`` on it is one plain EM step (scores, restarts, the polish, and the joint
    draws of ``draw_view``)."""
    return View("joint", n_features)


def draw_view(
    rng: np.random.Generator,
    n_features: int,
    probs: tuple[float, float, float],
    subset_beta: tuple[float, float],
) -> View:
    """Draw a view: its kind from ``probs`` (joint, marginal, rotated) and, for
    the marginal kinds, ``m = floor(D * Beta(*subset_beta))`` (``m`` may be 0:
    the caller skips such a view)."""
    D = n_features
    kind = KINDS[int(rng.choice(3, p=np.asarray(probs, dtype=float)))]
    if kind == "joint":
        return joint_view(D)
    m = min(D, int(np.floor(D * rng.beta(*subset_beta))))
    if kind == "marginal":
        return View(kind, D, index=np.sort(rng.choice(D, size=m, replace=False)))
    return View(kind, D, basis=haar_frame(rng, D, m).T)


def haar_frame(rng: np.random.Generator, n_features: int, m: int) -> np.ndarray:
    """``m`` Haar-distributed orthonormal columns in R^D, shape (D, m).

    QR of a Gaussian matrix with the signs of ``diag(R)`` folded into Q, which
    makes the law exactly uniform: O(D m^2), no D x D matrix.
    """
    G = rng.standard_normal((n_features, m))
    Q, R = np.linalg.qr(G)
    signs = np.sign(np.diagonal(R))
    signs[signs == 0] = 1.0
    return Q * signs


def write_back(
    backend: Backend,
    view: View,
    means,
    covs,
    old_view: tuple[Any, Any, Any],
    new_view: tuple[Any, Any],
    rule: str,
) -> tuple[Any, Any]:
    """Write a view's M-step back into the full means (K, D) and covariances (K, D, D).

    Parameters
    ----------
    backend : Backend
        The backend of the arrays.
    view : View
        On ``backend``.
    means, covs : ndarray of shape (K, D) and (K, D, D)
        Full parameters the view step started from (covs (1, D, D): one
        tied covariance).
    old_view : (means_v, covs_v, prec_chol_v)
        Their projections (K, m), (K, m, m) and the precision Cholesky factors
        of ``covs_v`` (K, m, m).
    new_view : (means_v', covs_v')
        The view's M-step.
    rule : {"block", "conditional"}
        ``"block"`` adds ``P.T (S_v' - S_v) P`` (the paper's rule, the caller
        floors the result); ``"conditional"`` keeps the law of x given Px and
        yields ``P Sigma' P.T = S_v'`` with Sigma' positive definite.

    Returns
    -------
    means' (K, D), covs' (K, D, D)
    """
    new_means_v, new_covs_v = new_view
    if view.kind == "joint":
        return new_means_v, new_covs_v
    means_v, covs_v, prec_chol_v = old_view
    d_means = new_means_v - means_v
    d_covs = new_covs_v - covs_v
    if rule == "block":
        lm, lS = view.lift(backend, d_means, d_covs)
        new_covs = covs + lS
    else:
        # B = Sigma P.T S_v^{-1}, with S_v^{-1} = U U.T from the E-step's factors
        # (one B for all components of a tied covariance: the product broadcasts)
        B = (view.cross(covs) @ prec_chol_v) @ prec_chol_v.swapaxes(-1, -2)
        lm = (B @ d_means[..., None])[..., 0]
        new_covs = covs + B @ d_covs @ B.swapaxes(-1, -2)
    new_covs = 0.5 * (new_covs + new_covs.swapaxes(-1, -2))
    return means + lm, new_covs
