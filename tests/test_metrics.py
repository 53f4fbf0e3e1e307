import itertools

import numpy as np
import pytest

from biglearn_em.metrics import clustering_accuracy, clustering_scores


def brute_force_accuracy(y_true, y_pred) -> float:
    """Best accuracy over every one-to-one map of clusters onto classes."""
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    best = 0
    if len(clusters) <= len(classes):
        for image in itertools.permutations(classes, len(clusters)):
            mapping = dict(zip(clusters, image))
            best = max(best, sum(mapping[p] == t for t, p in zip(y_true, y_pred)))
    else:
        for chosen in itertools.permutations(clusters, len(classes)):
            mapping = dict(zip(chosen, classes))
            best = max(best, sum(mapping.get(p) == t for t, p in zip(y_true, y_pred)))
    return best / len(y_true)


@pytest.mark.parametrize("n_classes, n_clusters", [(3, 3), (4, 4), (5, 5), (3, 5), (5, 2)])
def test_accuracy_matches_brute_force(n_classes, n_clusters):
    rng = np.random.default_rng(n_classes * 10 + n_clusters)
    for _ in range(20):
        y_true = rng.integers(n_classes, size=30)
        y_pred = rng.integers(n_clusters, size=30)
        assert clustering_accuracy(y_true, y_pred) == pytest.approx(
            brute_force_accuracy(y_true, y_pred))


def test_accuracy_is_invariant_to_relabelling():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    assert clustering_accuracy(y, np.array([5, 5, 9, 9, 7, 7, 7])) == 1.0
    assert clustering_accuracy(["a", "a", "b"], [1, 1, 0]) == 1.0


def test_accuracy_with_unequal_numbers_of_clusters_and_classes():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # four clusters: only two can be matched to the two classes
    assert clustering_accuracy(y, [0, 0, 1, 1, 2, 2, 3, 3]) == 0.5
    # one cluster: at most one class is right
    assert clustering_accuracy(y, np.zeros(8, int)) == 0.5


def test_accuracy_rejects_bad_input():
    with pytest.raises(ValueError, match="lengths"):
        clustering_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="at least one"):
        clustering_accuracy([], [])


def test_clustering_scores():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert clustering_scores(y, [2, 2, 0, 0, 1, 1]) == pytest.approx(
        {"nmi": 1.0, "ari": 1.0, "acc": 1.0})
    scores = clustering_scores(y, [0, 1, 0, 1, 0, 1])
    assert scores["nmi"] == pytest.approx(0.0, abs=1e-12) and scores["acc"] == pytest.approx(1 / 3)
