"""Synthetic data sets."""

from __future__ import annotations

import numpy as np

#: The paper's ten seeds for grid25.
GRID25_SEEDS = (5079, 6395, 3325, 2580, 5755, 2488, 4515, 6607, 2432, 6064)


def grid25_params(variance: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The true grid25 mixture: 25 equal-weight Gaussians with means on
    {-4, -2, 0, 2, 4}^2 and covariance ``variance * I``.

    Returns
    -------
    weights (25,), means (25, 2), covariances (25, 2, 2)
    """
    ticks = np.arange(-4.0, 5.0, 2.0)
    means = np.array([(x, y) for x in ticks for y in ticks])
    covs = np.broadcast_to(variance * np.eye(2), (25, 2, 2)).copy()
    return np.full(25, 1 / 25), means, covs


def sample_gmm(
    rng: np.random.Generator, n: int, weights: np.ndarray, means: np.ndarray, covs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of a Gaussian mixture: X (n, D) and component labels (n,)."""
    labels = rng.choice(len(weights), size=n, p=weights)
    chol = np.linalg.cholesky(covs)
    z = rng.standard_normal((n, means.shape[1]))
    X = means[labels] + np.einsum("nij,nj->ni", chol[labels], z)
    return X, labels


def make_grid25(
    seed: int, n_train: int = 2000, n_test: int = 5000
) -> tuple[np.ndarray, np.ndarray]:
    """Training (n_train, 2) and test (n_test, 2) samples of grid25 for one seed."""
    rng = np.random.default_rng(seed)
    w, mu, cov = grid25_params()
    return sample_gmm(rng, n_train, w, mu, cov)[0], sample_gmm(rng, n_test, w, mu, cov)[0]


def load_mat(path) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, D) float64 and integer labels (N,) from a ``.mat`` file
    whose key ``DataSet`` holds the label in column 0.

    Values are converted to float64 before anything else (Vehicle's uint16
    values go above 255, and integer arithmetic would wrap).
    """
    from pathlib import Path

    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    try:
        content = loadmat(path)
    except Exception as exc:  # scipy raises several types for non-MAT files
        raise ValueError(f"{path} is not a readable MATLAB .mat file ({exc})") from None
    if "DataSet" not in content:
        keys = sorted(k for k in content if not k.startswith("__"))
        raise ValueError(f"{path} has no 'DataSet' variable (it has {keys})")
    table = np.asarray(content["DataSet"], dtype=np.float64)
    if table.ndim != 2 or table.shape[1] < 2:
        raise ValueError(f"{path}: 'DataSet' must be a 2-D table with a label column and "
                         f"at least one feature; got shape {table.shape}")
    return table[:, 1:], table[:, 0].astype(np.int64)
