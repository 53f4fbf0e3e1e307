"""k-means written once over the backend interface (``_kmeans``): the same
start on every backend, and scikit-learn's algorithm on the host."""

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans, kmeans_plusplus

from biglearn_em.backends.numpy import NumpyBackend
from biglearn_em.engine import kmeans as _kmeans
from biglearn_em.engine.data import Data

torch = pytest.importorskip(
    "torch", reason='needs PyTorch: pip install torch (the CPU build: pip install torch '
                    '--index-url https://download.pytorch.org/whl/cpu)')
from biglearn_em.backends.torch import TorchBackend  # noqa: E402


def _mixed(rng, N, K, D):
    centres = rng.normal(0, 3, (K, D))
    return rng.normal(size=(N, D)) + centres[rng.integers(K, size=N)]


@pytest.mark.parametrize("case", range(12))
def test_same_labels_on_numpy_and_torch_and_as_scikit_learn(case):
    rng = np.random.default_rng(case)
    K, D = int(rng.integers(2, 12)), int(rng.integers(1, 7))
    X = _mixed(rng, int(rng.integers(10 * K, 600)), K, D)
    host = Data.from_array(X, 97, NumpyBackend(), K)  # several chunks, a short last one
    device = Data.from_array(torch.tensor(X), 97, TorchBackend("cpu"), K)
    ours = _kmeans.labels(host, K, np.random.default_rng(case))
    np.testing.assert_array_equal(_kmeans.labels(device, K, np.random.default_rng(case)).numpy(),
                                  ours)
    # the same seed through scikit-learn's KMeans (one draw from the fit's generator)
    seed = int(np.random.default_rng(case).integers(np.iinfo(np.int32).max))
    ref = KMeans(K, n_init=1, random_state=seed).fit(host.standardized())
    np.testing.assert_array_equal(ours, ref.labels_)
    centres = _kmeans.plusplus(host, K, _kmeans.random_state(np.random.default_rng(case)))
    np.testing.assert_allclose(centres, kmeans_plusplus(host.standardized(), K,
                                                        random_state=seed)[0], rtol=1e-12)


def test_an_empty_cluster_takes_the_farthest_row():
    # two far points and many duplicates: Lloyd's first assignment leaves a
    # centre without rows when started from two identical centres
    X = np.vstack([np.zeros((20, 2)), [[10.0, 10.0]], [[-10.0, 10.0]]])
    data = Data.from_array(X, None, NumpyBackend(), 3)
    start = data.rows(np.array([0, 1, 20]))  # two centres on the same point
    labels = _kmeans._lloyd(data, np.asarray(start, dtype=float), 1e-12)
    assert sorted(np.bincount(labels, minlength=3)) == [1, 1, 20]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no 0 / 0 when a cluster empties
def test_more_clusters_than_distinct_points_as_scikit_learn(seed):
    # relocating the farthest row into an empty cluster can empty the cluster
    # it came from; its centre stays finite, and the labels are scikit-learn's
    X = np.array([[5, 0], [0, 0], [0, 0], [1, 0], [1, 0], [0, 0]], dtype=float)
    data = Data.from_array(X, None, NumpyBackend(), 4)
    ours = _kmeans.labels(data, 4, np.random.default_rng(seed))
    sk_seed = int(np.random.default_rng(seed).integers(np.iinfo(np.int32).max))
    with warnings.catch_warnings():  # scikit-learn warns about the duplicates
        warnings.simplefilter("ignore")
        ref = KMeans(4, n_init=1, random_state=sk_seed).fit(data.standardized()).labels_
    np.testing.assert_array_equal(ours, ref)


def test_the_draws_use_float64_distances_whatever_the_compute_dtype():
    rng = np.random.default_rng(0)
    X = _mixed(rng, 300, 3, 2)
    for be in (NumpyBackend("float32"), TorchBackend("cpu", dtype="float32")):
        data = Data.from_array(X if be.name == "numpy" else torch.tensor(X), None, be, 3)
        assert str(_kmeans._distances(data, data.rows(np.array([0]))).dtype).endswith("float64")
