import os

# scikit-learn's array-API estimator check runs only when SciPy's array-API
# mode is on, which must be chosen before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest


def random_spd(rng: np.random.Generator, K: int, D: int, scale: float = 1.0) -> np.ndarray:
    """K random well-conditioned symmetric positive definite D x D matrices."""
    A = rng.standard_normal((K, D, D))
    return scale * (A @ np.swapaxes(A, 1, 2) / D + 0.5 * np.eye(D))


def random_mixture(rng: np.random.Generator, K: int, D: int):
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(0, 3, (K, D))
    return weights, means, random_spd(rng, K, D)


def blobs(rng: np.random.Generator, K: int, D: int, n_per: int, spread: float = 4.0):
    """Well-separated Gaussian clusters: X (K n_per, D) and labels."""
    centers = rng.normal(0, spread, (K, D))
    X = np.vstack([rng.normal(c, 1.0, (n_per, D)) for c in centers])
    return X, np.repeat(np.arange(K), n_per)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _package_data_only(monkeypatch):
    """Tests read the UCI sets shipped in the package: a developer's
    ``$BIGLEARN_EM_DATA`` must not change what they see (tests of the override
    set it themselves)."""
    monkeypatch.delenv("BIGLEARN_EM_DATA", raising=False)
