"""k-means written once over the backend interface (``biglearn_em.engine.kmeans``):
scikit-learn's algorithm on the host where clusters empty. The same labels
and seeds as scikit-learn on every backend, and float64 distances whatever
the compute dtype: test_backends.py."""

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans

from biglearn_em.backends.numpy import NumpyBackend
from biglearn_em.engine import kmeans as _kmeans
from biglearn_em.engine.data import Data


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
