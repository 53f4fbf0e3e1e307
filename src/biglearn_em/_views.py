"""Views of the data: the joint, a marginal on a subset of coordinates, or a
marginal on a subset of a randomly rotated coordinate system.

A view is ``P`` (m x D) with orthonormal rows; data are seen as ``Y = X @ P.T``
and the mixture as ``(pi, mu @ P.T, P Sigma P.T)``. The joint view is ``P = I``
and a marginal view is a selection of rows of ``I``; both are applied by
indexing, never by a matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("joint", "marginal", "rotated")


@dataclass(frozen=True)
class View:
    """One view of D-dimensional data.

    Exactly one representation is set: nothing (joint), ``index`` (m,) sorted
    coordinates (marginal), or ``basis`` (m, D) orthonormal rows (rotated).
    """

    kind: str
    n_features: int
    index: np.ndarray | None = None
    basis: np.ndarray | None = None

    @property
    def m(self) -> int:
        if self.index is not None:
            return len(self.index)
        if self.basis is not None:
            return self.basis.shape[0]
        return self.n_features

    def data(self, X: np.ndarray) -> np.ndarray:
        """``X @ P.T``: (n, D) -> (n, m)."""
        if self.index is not None:
            return X[:, self.index]
        if self.basis is not None:
            return X @ self.basis.T
        return X

    def params(self, means: np.ndarray, covs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``mu @ P.T`` (K, m) and ``P Sigma P.T`` (K, m, m)."""
        if self.index is not None:
            idx = self.index
            return means[:, idx], covs[:, idx[:, None], idx]
        if self.basis is not None:
            P = self.basis
            return means @ P.T, P @ covs @ P.T
        return means, covs

    def cross(self, covs: np.ndarray) -> np.ndarray:
        """``Sigma P.T``, shape (K, D, m)."""
        if self.index is not None:
            return covs[:, :, self.index]
        if self.basis is not None:
            return covs @ self.basis.T
        return covs

    def lift(
        self, delta_means: np.ndarray, delta_covs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``d_mu @ P`` (K, D) and ``P.T d_S P`` (K, D, D) for view-space changes."""
        if self.basis is not None:
            P = self.basis
            return delta_means @ P, P.T @ delta_covs @ P
        K = delta_means.shape[0]
        D = self.n_features
        dm = np.zeros((K, D))
        dS = np.zeros((K, D, D))
        idx = self.index if self.index is not None else np.arange(D)
        dm[:, idx] = delta_means
        dS[:, idx[:, None], idx] = delta_covs
        return dm, dS


def joint_view(n_features: int) -> View:
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
    view: View,
    means: np.ndarray,
    covs: np.ndarray,
    old_view: tuple[np.ndarray, np.ndarray, np.ndarray],
    new_view: tuple[np.ndarray, np.ndarray],
    rule: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Write a view's M-step back into the full means (K, D) and covariances (K, D, D).

    Parameters
    ----------
    view : View
    means, covs : ndarray of shape (K, D) and (K, D, D)
        Full parameters the view step started from.
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
        lm, lS = view.lift(d_means, d_covs)
        new_covs = covs + lS
    else:
        # B = Sigma P.T S_v^{-1}, with S_v^{-1} = U U.T from the E-step's factors
        B = (view.cross(covs) @ prec_chol_v) @ np.swapaxes(prec_chol_v, -1, -2)
        lm = np.einsum("kdm,km->kd", B, d_means)
        new_covs = covs + B @ d_covs @ np.swapaxes(B, -1, -2)
    new_covs = 0.5 * (new_covs + np.swapaxes(new_covs, -1, -2))
    return means + lm, new_covs
