"""The budget that follows the data: restarts that end once converged runs
agree on the best optimum, and the views' patience under ``patience="auto"``
(``engine.loop``)."""

import numpy as np
import pytest

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.engine import State
from biglearn_em.engine.loop import AGREED_PATIENCE, PATIENCE, PATIENCE_GROWTH, _patience
from conftest import blobs


def _kinds(model, *kinds):
    return sum(r["kind"] in kinds for r in model.history_)


@pytest.fixture(scope="module")
def easy():
    """Two far-apart clusters: every start converges to the same optimum."""
    return blobs(np.random.default_rng(0), 2, 2, 150, spread=8.0)[0]


def test_restarts_that_agree_end_early_at_the_same_optimum(easy):
    auto = BigLearnGaussianMixture(2, random_state=0).fit(easy)
    every = BigLearnGaussianMixture(2, random_state=0, restart_agreement=None).fit(easy)
    assert _kinds(every, "restart") == 21
    # three converged runs at one optimum: the first three
    assert _kinds(auto, "restart") == 3
    assert auto.n_em_steps_ < every.n_em_steps_ / 2
    assert auto.lower_bound_ == pytest.approx(every.lower_bound_, abs=1e-6)


def test_only_converged_runs_count(easy):
    # one step per run: no run can show it converged, so every restart runs
    model = BigLearnGaussianMixture(2, random_state=0, restart_iter=1).fit(easy)
    assert _kinds(model, "restart") == 21


@pytest.mark.parametrize("agreement", [1, 5])
def test_the_agreement_is_the_number_of_runs_asked(easy, agreement):
    model = BigLearnGaussianMixture(2, random_state=0, restart_agreement=agreement).fit(easy)
    assert _kinds(model, "restart") == agreement


def test_after_agreement_the_views_stop_sooner(easy):
    auto = BigLearnGaussianMixture(2, random_state=0).fit(easy)
    fixed = BigLearnGaussianMixture(2, random_state=0, patience=PATIENCE).fit(easy)
    views = ("joint", "marginal", "rotated")
    # nothing to improve on one dominant optimum: the views run their patience out
    assert _kinds(auto, *views) == AGREED_PATIENCE
    assert _kinds(fixed, *views) == PATIENCE


def test_auto_patience_grows_with_the_last_improvement():
    state = State(params=None, phase="views")
    settings = type("S", (), {"patience": "auto"})()
    assert _patience(state, settings) == PATIENCE
    state.agreed = True
    assert _patience(state, settings) == AGREED_PATIENCE
    state.improvement_took = 40  # an improvement that took 40 iterations buys the next one 80
    assert _patience(state, settings) == PATIENCE_GROWTH * 40
    settings.patience = 7  # a number is kept as given
    assert _patience(state, settings) == 7


@pytest.mark.parametrize("name,value,error", [
    ("restart_agreement", 0, ValueError), ("restart_agreement", 1.5, TypeError),
    ("restart_agreement", "auto", TypeError), ("patience", "sometimes", ValueError),
    ("patience", 0, ValueError), ("patience", 1.5, TypeError)])
def test_bad_values_are_one_line_errors_naming_the_parameter(easy, name, value, error):
    with pytest.raises(error, match=f"The '{name}' parameter .* must be") as caught:
        BigLearnGaussianMixture(2, **{name: value}).fit(easy)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("settings", [{}, {"reg_covar": 0.1}, {"eig_floor": 0.5}])
def test_one_component_is_one_pass_scored_in_closed_form(monkeypatch, covariance_type,
                                                         settings):
    from biglearn_em.engine import loop

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * [1.0, 2.0, 0.01] + [3.0, -1.0, 5.0]
    weights = rng.integers(0, 4, 300).astype(float)

    def no_second_pass(*args, **kwargs):
        raise AssertionError("a K = 1 fit scored its result with another pass")

    monkeypatch.setattr(loop, "score", no_second_pass)
    model = BigLearnGaussianMixture(1, covariance_type=covariance_type, **settings)
    model.fit(X, sample_weight=weights)
    assert model.n_em_steps_ == 1 and model.converged_
    # the closed form is the mean log-density of the rows under the result,
    # floor (eig_floor=0.5 binds on the third column) and reg_covar included
    expected = model.score(X, sample_weight=weights)
    assert model.lower_bound_ == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_one_component_from_a_far_start_takes_a_second_step(covariance_type):
    # moments about a start 1e7 standard deviations away lose digits to
    # cancellation (the covariance was 0.11 off): a second step recentres them
    X = np.random.default_rng(0).normal(size=(400, 2))
    model = BigLearnGaussianMixture(1, covariance_type=covariance_type,
                                    means_init=np.full((1, 2), 1e7)).fit(X)
    cov = np.cov(X.T, bias=True)
    expected = cov if covariance_type == "full" else np.diag(cov)
    np.testing.assert_allclose(model.covariances_[0], expected, atol=1e-12)
    assert model.lower_bound_ == pytest.approx(model.score(X), rel=1e-12)
    assert model.n_em_steps_ == 2
    near = BigLearnGaussianMixture(1, covariance_type=covariance_type).fit(X)
    assert near.n_em_steps_ == 1


def test_a_constant_column_takes_one_step_and_float32_recentres_sooner():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=400), rng.normal(size=400), np.full(400, 0.1)])
    for covariance_type in ("full", "tied", "diag", "spherical"):
        model = BigLearnGaussianMixture(1, covariance_type=covariance_type).fit(X)
        assert model.n_em_steps_ == 1  # the constant column's shift is rounding, not distance
    # float32 moments about a start 99 standard deviations away were 1.6e-3 off
    X = rng.normal(size=(400, 2))
    model = BigLearnGaussianMixture(1, dtype="float32", means_init=np.full((1, 2), 99.0)).fit(X)
    assert model.n_em_steps_ == 2
    np.testing.assert_allclose(model.covariances_[0], np.cov(X.T, bias=True), rtol=1e-5,
                               atol=1e-6)
    assert model.lower_bound_ == pytest.approx(model.score(X), abs=1e-5)
