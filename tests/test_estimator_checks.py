"""scikit-learn's estimator API checks on ``BigLearnGaussianMixture``."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from biglearn_em import BigLearnGaussianMixture

ESTIMATORS = [
    BigLearnGaussianMixture(),
    # enough components for check_clustering's three blobs
    BigLearnGaussianMixture(n_components=3),
    BigLearnGaussianMixture(
        n_components=2, update="conditional", init_params="random_from_data", max_iter=50,
        patience=10,
    ),
    # plain EM: joint views only, no smoothing, one inner step
    BigLearnGaussianMixture(
        n_components=2, view_probs=(1.0, 0.0, 0.0), weight_smoothing=0.0, n_inner=1,
        init_params="k-means++", max_iter=50,
    ),
]


def expected_failed_checks(estimator: BigLearnGaussianMixture) -> dict[str, str]:
    """Checks that cannot pass for ``estimator``, each with the reason."""
    if estimator.n_components == 1:
        return {
            "check_clustering": (
                "check_clustering sets n_clusters=3 only on estimators that have it; this one "
                "has n_components (as GaussianMixture), default 1, and one component puts all "
                "three blobs in one cluster (ARI 0, the check wants > 0.4)"
            ),
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
