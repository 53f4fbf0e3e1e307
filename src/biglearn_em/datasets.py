"""Data sets: the synthetic grid25 mixture, the paper's clustering sets
(``.mat`` files shipped in the package's ``data`` folder, and scikit-learn's
bundled ones), splits and min-max scaling."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import numpy as np

__all__ = [
    "DATA_ENV", "GRID25_SEEDS", "SKLEARN_SETS", "UCI_FILES", "bundled_data_dir", "grid25_params",
    "load_faithful", "load_mat", "load_sklearn", "load_uci", "make_grid25", "minmax_fit",
    "minmax_scale", "resolve_data_dir", "sample_gmm", "stratified_split",
]

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


# ---------------------------------------------------------------- clustering data
#: The paper's UCI clustering sets: files under the data directory,
#: (training file, test file or None when the set has no official split).
#: The package ships them in this layout (``data/README.md`` says where they
#: come from); a folder given as an override must have the same layout.
UCI_FILES = {
    "glass": ("glass/glass.mat", None),
    "letter": ("letter/letter.mat", None),
    "pendigits": ("pendigits/pendigits_train.mat", "pendigits/pendigits_test.mat"),
    "vehicle": ("vehicle/Vehicle.mat", None),
}

#: scikit-learn's bundled sets (no download needed).
SKLEARN_SETS = ("digits", "iris", "wine")

#: Environment variable naming a directory to read the ``.mat`` files from
#: instead of the copies inside the package.
DATA_ENV = "BIGLEARN_EM_DATA"


def bundled_data_dir() -> Path:
    """The folder inside the installed package that holds the UCI ``.mat`` files."""
    # a regular (unzipped) install: the resource is a real folder on disk
    return Path(str(files("biglearn_em").joinpath("data")))


def resolve_data_dir(override=None) -> Path:
    """The folder the UCI ``.mat`` files are read from.

    Parameters
    ----------
    override : path-like or None
        A folder to use instead of the package's own copies (``--data-dir``).

    Returns
    -------
    Path
        ``override`` if given, else ``$BIGLEARN_EM_DATA`` if set, else
        :func:`bundled_data_dir`.

    Raises
    ------
    ValueError
        When the folder chosen by ``override`` or ``$BIGLEARN_EM_DATA`` does
        not exist (the message names where it came from).
    """
    if override is not None:
        source = "--data-dir"
    elif os.environ.get(DATA_ENV):
        override, source = os.environ[DATA_ENV], f"${DATA_ENV}"
    else:
        return bundled_data_dir()
    path = Path(override)
    if not path.is_dir():
        raise ValueError(f"data directory {path} (from {source}) does not exist; leave "
                         f"--data-dir and {DATA_ENV} unset to use the copies in the package")
    return path


def load_uci(
    name: str, folder=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One of the paper's UCI sets (:data:`UCI_FILES`).

    Parameters
    ----------
    name : str
        A key of :data:`UCI_FILES`.
    folder : path-like or None
        Where to read the files from; None resolves it with :func:`resolve_data_dir`
        (``$BIGLEARN_EM_DATA``, else the package's own copies).

    Returns
    -------
    X_train : ndarray of shape (N, D), float64
    y_train : ndarray of shape (N,), int
    X_test : ndarray of shape (M, D) or None
        The official test split (Pendigits), None for sets without one.
    y_test : ndarray of shape (M,) or None
    """
    if name not in UCI_FILES:
        raise ValueError(f"unknown UCI data set {name!r}; expected one of {sorted(UCI_FILES)}")
    folder = resolve_data_dir(folder)
    train, test = UCI_FILES[name]
    X_train, y_train = load_mat(folder / train)
    if test is None:
        return X_train, y_train, None, None
    X_test, y_test = load_mat(folder / test)
    if X_test.shape[1] != X_train.shape[1]:
        raise ValueError(f"{name}: training and test files have {X_train.shape[1]} and "
                         f"{X_test.shape[1]} features")
    return X_train, y_train, X_test, y_test


def load_faithful() -> np.ndarray:
    """Old Faithful's 272 eruptions (R's ``datasets::faithful``; Azzalini &
    Bowman 1990): eruption time in minutes and waiting time to the next
    eruption in minutes, the small two-dimensional set on which mixture
    software is usually compared (mclust's and scikit-learn's timings in
    ``benchmarks/small_data.py``).

    Returns
    -------
    X : ndarray of shape (272, 2)
        Columns ``eruptions`` and ``waiting``, float64, in R's row order.
    """
    path = bundled_data_dir() / "faithful.csv"
    return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)


def load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled ``digits``, ``iris`` or ``wine``: X (N, D) float64, y (N,)."""
    from sklearn import datasets

    loaders = {"digits": datasets.load_digits, "iris": datasets.load_iris,
               "wine": datasets.load_wine}
    if name not in loaders:
        raise ValueError(f"unknown scikit-learn data set {name!r}; expected one of "
                         f"{sorted(loaders)}")
    X, y = loaders[name](return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


def stratified_split(
    X: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random training / test split that keeps the class proportions.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    y : ndarray of shape (N,)
    test_fraction : float in (0, 1)
    seed : int
        Same seed, same split.

    Returns
    -------
    X_train (N - M, D), y_train (N - M,), X_test (M, D), y_test (M,)
    """
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, stratify=y, random_state=seed)
    return X_train, y_train, X_test, y_test


def minmax_fit(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature offset and factor mapping the training range onto [0, 1].

    Parameters
    ----------
    X_train : ndarray of shape (N, D)

    Returns
    -------
    low : ndarray of shape (D,)
        The training minimum of each feature.
    factor : ndarray of shape (D,)
        ``1 / (max - min)``, and 0 for a constant feature (mapped to 0 rather
        than divided by zero).
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    low = X_train.min(axis=0)
    span = X_train.max(axis=0) - low
    factor = np.zeros_like(span)
    np.divide(1.0, span, out=factor, where=span > 0)
    return low, factor


def minmax_scale(
    X_train: np.ndarray, *others: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Min-max scale ``X_train`` to [0, 1] and apply the same map to ``others``.

    The statistics come from ``X_train`` only, so test points outside the
    training range land outside [0, 1].

    Parameters
    ----------
    X_train : ndarray of shape (N, D)
    *others : ndarrays of shape (M, D)

    Returns
    -------
    The scaled arrays, in the order given.
    """
    low, factor = minmax_fit(X_train)
    return tuple((np.asarray(X, dtype=np.float64) - low) * factor for X in (X_train, *others))
