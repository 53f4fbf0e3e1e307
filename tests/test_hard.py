"""Hard mixtures at equal time: the family generators, the equal-time rule and
``biglearn-em reproduce hard --quick`` end to end (about 30 s on 2 cores)."""

import argparse
import csv

import numpy as np
import pytest

from biglearn_em.experiments import hard

SEEDS = (0, 1, 2, 3, 4)


def _check_mixture(weights, means, covs):
    K, D = means.shape
    assert weights.shape == (K,) and covs.shape == (K, D, D)
    assert np.all(weights > 0)
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(covs, np.swapaxes(covs, 1, 2), atol=1e-12)
    assert np.all(np.linalg.eigvalsh(covs) > 0)


@pytest.mark.parametrize("name", list(hard.FAMILIES))
def test_every_family_draws_valid_mixtures_from_its_seed(name):
    family = hard.FAMILIES[name]
    for seed in SEEDS:
        _check_mixture(*family.mixture(seed))
    first, again, other = family.mixture(0), family.mixture(0), family.mixture(1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert first[1].shape != other[1].shape or not np.allclose(first[1], other[1])
    truth, X_train, X_test = hard.make_data(family, 0)
    D, n_train = truth[1].shape[1], family.training_size(len(truth[0]))
    assert X_train.shape == (n_train, D)
    assert X_test.shape == (hard.TEST_FACTOR * n_train, D)
    assert not np.allclose(X_train[:10], hard.make_data(family, 1)[1][:10])


def test_grid_has_many_small_components_on_a_grid():
    for seed in SEEDS:
        weights, means, covs = hard.grid_mixture(seed)
        assert len(weights) == 49
        np.testing.assert_allclose(weights, 1 / 49)
        ticks = 2.0 * (np.arange(7) - 3)
        grid = np.array([(x, y) for x in ticks for y in ticks])
        assert np.abs(means - grid).max() <= 0.2
        np.testing.assert_allclose(covs, np.broadcast_to(0.1 * np.eye(2), covs.shape))
    assert hard.FAMILIES["grid"].n_train / 49 <= 30  # few points per component


def test_thin_clusters_are_thin_and_point_in_different_directions():
    for seed in SEEDS:
        _, _, covs = hard.thin_mixture(seed)
        vals, vecs = np.linalg.eigh(covs)
        np.testing.assert_allclose(np.sqrt(vals[:, 1] / vals[:, 0]), 30.0, rtol=1e-9)
        np.testing.assert_allclose(np.sqrt(vals[:, 1]), 2.0, rtol=1e-9)
        angles = np.mod(np.arctan2(vecs[:, 1, 1], vecs[:, 0, 1]), np.pi)
        assert np.ptp(angles) > np.pi / 2


def test_unequal_weights_span_50x_and_clusters_are_separated():
    for seed in SEEDS:
        weights, means, covs = hard.unequal_mixture(seed)
        np.testing.assert_allclose(weights.max() / weights.min(), 50.0, rtol=1e-9)
        dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
        dist[np.diag_indices(len(weights))] = np.inf
        sd_max = np.sqrt(np.linalg.eigvalsh(covs).max())
        assert dist.min() >= 3.0 and dist.min() >= 5 * sd_max


def test_scales_span_100x():
    for seed in SEEDS:
        _, _, covs = hard.scales_mixture(seed)
        sd = np.sqrt(np.linalg.eigvalsh(covs))
        np.testing.assert_allclose(sd[:, 0], sd[:, 1])  # isotropic
        np.testing.assert_allclose(sd.max() / sd.min(), 100.0, rtol=1e-9)


def test_highdim_clusters_overlap_in_10_to_50_dimensions():
    for seed in SEEDS:
        weights, means, covs = hard.highdim_mixture(seed)
        K, D = means.shape
        assert 10 <= D <= 50
        dist = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(K, 1)]
        sd_long = np.sqrt(np.linalg.eigvalsh(covs)[:, -1])
        # every pair of means is closer than two standard deviations along a typical long axis
        assert dist.max() < 2 * np.median(sd_long)


def test_at_budget_keeps_the_best_training_fit_of_the_restarts_that_fit_the_budget():
    fits = [hard.Fit(0.4, -2.0, -2.5), hard.Fit(0.4, -1.0, -1.2), hard.Fit(0.4, -1.5, -1.4),
            hard.Fit(0.4, 0.0, 5.0)]
    best, n = hard.at_budget(fits, 1.0)
    assert n == 3  # 1.2 s >= 1.0 s; the fourth restart is past the budget
    assert (best.train_ll, best.test_ll) == (-1.0, -1.2)  # by training, never test LL
    np.testing.assert_allclose(best.seconds, 1.2)
    best, n = hard.at_budget(fits, 0.0)
    assert n == 1 and best.test_ll == -2.5  # at least one restart


def test_restart_sequence_runs_until_the_budget_with_new_seeds():
    seen = []

    class Fake:
        def __init__(self, seed):
            seen.append(seed)

        def fit(self, X):
            return self

        def score(self, X):
            return -1.0

    X = np.zeros((3, 2))
    fits = hard.restart_sequence(Fake, X, X, budget=0.0, base_seed=(0, 1))
    assert len(fits) == 1
    assert hard.restart_sequence(Fake, X, X, budget=-1.0, base_seed=(0, 1))
    assert seen[0] == seen[1]  # the same base seed gives the same seeds
    seen.clear()
    hard.restart_sequence(Fake, X, X, budget=1e-3, base_seed=(0, 2))
    assert len(set(seen)) == len(seen)


def test_biglearn_model_settings():
    X = np.random.default_rng(0).normal(0.0, 3.0, (200, 2))
    shipped = hard.biglearn_model(4, 0, X)
    assert shipped.get_params()["init_params"] == "kmeans"
    tuned = hard.biglearn_model(4, 0, X, {"eig_floor_rel": 1e-4, "weight_smoothing": "0.1/K",
                                          "n_inner": 2})
    params = tuned.get_params()
    np.testing.assert_allclose(params["eig_floor"], 1e-4 * X.var(axis=0).mean())
    np.testing.assert_allclose(params["weight_smoothing"], 0.025)
    assert params["n_inner"] == 2 and params["patience"] == hard.DEFAULTS_0_1["patience"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hard")
    parser = argparse.ArgumentParser()
    hard.add_arguments(parser)
    assert hard.main(parser.parse_args(["--quick", "--out", str(out)])) == 0
    return out


@pytest.mark.slow
def test_quick_run_writes_the_report_and_the_figure(quick_run):
    report = (quick_run / "report.md").read_text()
    assert "Equal-time table" in report
    for name in hard.FAMILIES:
        assert f"| {name} |" in report
    for method in hard.METHODS:
        assert method in report
    figure = quick_run / "gap_by_family.png"
    assert figure.stat().st_size > 10_000 and figure.name in report


@pytest.mark.slow
def test_quick_run_gives_the_restarts_at_least_biglearn_time(quick_run):
    with open(quick_run / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["family"] for r in rows} == set(hard.FAMILIES)
    assert {r["method"] for r in rows} == set(hard.METHODS)
    for r in rows:
        assert np.isfinite(float(r["gap"]))
        biglearn = next(b for b in rows if b["method"] == hard.BIGLEARN
                        and (b["family"], b["seed"]) == (r["family"], r["seed"]))
        assert float(r["budget"]) == float(biglearn["seconds"])
        if r["method"] in (hard.EM_RESTARTS, hard.SKLEARN_RESTARTS):
            assert int(r["restarts"]) >= 1
            assert float(r["seconds"]) >= float(r["budget"])
        else:
            assert int(r["restarts"]) == 1
