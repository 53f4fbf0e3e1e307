"""The drop-in promises of issue 19: a fit never ends below its start (warm
or cold), warm refits converge, scikit-learn's constructor parameters, array
API ``*_init`` arrays, one sampler on every backend, K = 1 in closed form.
One model per seed on every backend: test_backends.py."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning

from biglearn_em import BigLearnGaussianMixture
from conftest import TORCH_MISSING, blobs

TYPES = ("full", "tied", "diag", "spherical")
TORCH_REASON = TORCH_MISSING


def _readme_data():
    rng = np.random.RandomState(0)
    return np.vstack([rng.randn(120, 2), rng.randn(80, 2) @ [[2, .5], [0, .3]] + [4, 3]])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_refits_never_fall_and_converge():
    # the snippet: it fell on every refit, from -3.20216 to -3.20377
    X = _readme_data()
    gmm = BigLearnGaussianMixture(2, warm_start=True, max_iter=1, random_state=0).fit(X)
    scores = [gmm.score(X)] + [gmm.fit(X).score(X) for _ in range(8)]
    assert np.all(np.diff(scores) >= -1e-12), scores
    gmm = BigLearnGaussianMixture(2, warm_start=True, max_iter=1, random_state=0)
    refits = 0
    while refits < 10 and not getattr(gmm, "converged_", False):
        gmm.fit(X)
        refits += 1
    assert gmm.converged_, f"not converged after {refits} warm refits"
    assert gmm.n_iter_ == 1  # what max_iter bounds


@pytest.mark.parametrize("covariance_type", TYPES)
def test_a_warm_fit_never_ends_below_the_model_it_continues(rng, covariance_type):
    X, _ = blobs(rng, 4, 3, 60, spread=2.0)  # overlapping: views can lose ground
    gmm = BigLearnGaussianMixture(4, covariance_type=covariance_type, max_iter=3,
                                  random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(5):
            before = gmm.score(X) if hasattr(gmm, "converged_") else -np.inf
            after = gmm.fit(X).score(X)
            assert after >= before - 1e-12
            # lower_bound_ is the likelihood of the model returned
            assert gmm.lower_bound_ == pytest.approx(after, abs=1e-10)


@pytest.mark.parametrize("restarts", [0, 20])
def test_a_cold_fit_never_ends_below_its_start(rng, restarts):
    X, _ = blobs(rng, 5, 2, 40, spread=1.5)
    start = BigLearnGaussianMixture(5, max_iter=0, random_state=3).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = BigLearnGaussianMixture(5, max_iter=2, restarts=restarts, random_state=3).fit(X)
    assert fit.score(X) >= start.score(X) - 1e-12


def test_every_scikit_learn_constructor_parameter_is_accepted():
    ours = BigLearnGaussianMixture().get_params()
    theirs = sklearn.mixture.GaussianMixture().get_params()
    assert set(theirs) <= set(ours)
    assert ours["verbose_interval"] == theirs["verbose_interval"] == 10


def test_verbose_interval_spaces_the_lines(capsys):
    X = _readme_data()
    BigLearnGaussianMixture(2, verbose=2, verbose_interval=3, max_iter=7, patience=None,
                            restarts=0, moves=0, random_state=0).fit(X)
    lines = [line for line in capsys.readouterr().out.splitlines() if " iter " in line]
    iterations = [int(line.split()[3]) for line in lines]
    assert iterations and all(i % 3 == 0 for i in iterations)
    assert 3 in iterations and 6 in iterations
    with pytest.raises(ValueError, match="'verbose_interval'"):
        BigLearnGaussianMixture(2, verbose_interval=0).fit(X)


def _start_and_fit(covariance_type: str, seed: int):
    """Data, a start (as *_init host arrays) and the fit of 5 steps from it."""
    X, _ = blobs(np.random.default_rng(seed), 2, 3, 40)
    start = BigLearnGaussianMixture(2, covariance_type=covariance_type, max_iter=0,
                                    random_state=0).fit(X)
    init = {"weights_init": start.weights_, "means_init": start.means_,
            "precisions_init": start.precisions_}
    ref = BigLearnGaussianMixture(2, covariance_type=covariance_type, max_iter=5,
                                  random_state=0, **init).fit(X)
    return X, init, ref


@pytest.mark.parametrize("covariance_type", TYPES)
def test_array_api_arrays_as_initial_parameters(covariance_type):
    xp = pytest.importorskip("array_api_strict", reason="needs pip install array-api-strict")
    X, init, ref = _start_and_fit(covariance_type, 0)
    with sklearn.config_context(array_api_dispatch=True):
        model = BigLearnGaussianMixture(
            2, covariance_type=covariance_type, max_iter=5, random_state=0,
            **{k: xp.asarray(v) for k, v in init.items()}).fit(xp.asarray(X))
        assert model.means_.__array_namespace__() is xp  # results in the input's namespace
        means = np.from_dlpack(model.means_)
    np.testing.assert_allclose(means, ref.means_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_torch_tensors_as_initial_parameters(covariance_type):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    X, init, ref = _start_and_fit(covariance_type, 1)
    model = BigLearnGaussianMixture(2, covariance_type=covariance_type, max_iter=5,
                                    random_state=0,
                                    **{k: torch.tensor(v) for k, v in init.items()}).fit(X)
    np.testing.assert_allclose(model.means_, ref.means_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_one_sampler_on_every_backend(covariance_type):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(2)
    X, _ = blobs(rng, 3, 4, 50)
    host = BigLearnGaussianMixture(3, covariance_type=covariance_type, max_iter=5,
                                   random_state=7).fit(X)
    # under array_api_dispatch a model fitted on tensors keeps tensors and
    # samples with the torch kernels
    with sklearn.config_context(array_api_dispatch=True):
        device = BigLearnGaussianMixture(3, covariance_type=covariance_type, max_iter=5,
                                         random_state=7).fit(torch.tensor(X))
        Xd, yd = device.sample(500)
    assert isinstance(Xd, torch.Tensor)
    Xh, yh = host.sample(500)
    np.testing.assert_array_equal(yh, yd.numpy())
    np.testing.assert_allclose(Xh, Xd.numpy(), rtol=1e-9, atol=1e-9)
    # and the draws follow the fitted model
    big, labels = host.sample(20000)
    for k in range(3):
        np.testing.assert_allclose(big[labels == k].mean(0), host.means_[k], atol=0.15)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_one_component_is_exact_in_one_step(rng, covariance_type):
    X = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 3)) + 5.0
    model = BigLearnGaussianMixture(1, covariance_type=covariance_type, random_state=0).fit(X)
    ref = sklearn.mixture.GaussianMixture(1, covariance_type=covariance_type,
                                          reg_covar=0).fit(X)
    np.testing.assert_allclose(model.means_, X.mean(0)[None], rtol=1e-12)
    np.testing.assert_allclose(model.covariances_, ref.covariances_, rtol=1e-10)
    assert model.converged_ and model.n_iter_ == 1 and model.n_em_steps_ == 1
    assert [r["kind"] for r in model.history_] == ["exact"]
    assert model.lower_bound_ == pytest.approx(model.score(X), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_an_interrupted_warm_refit_keeps_at_least_its_start(seed):
    """keep_best_on_interrupt (and max_time, which ends the same way): the
    parameters kept are scored on all rows and never fall below the start,
    also when the views ran on a subsample (search_rows)."""
    rng = np.random.default_rng(seed)
    X, _ = blobs(rng, 2, 2, 1000, spread=3.0)
    model = BigLearnGaussianMixture(3, warm_start=True, random_state=seed).fit(X)
    before = model.score(X)

    def interrupt(record):
        if record["kind"] == "polish":
            raise KeyboardInterrupt

    model.set_params(search_rows=60, keep_best_on_interrupt=True, callback=interrupt)
    with pytest.warns(ConvergenceWarning, match="interrupted"):
        model.fit(X)
    assert model.score(X) >= before - 1e-12
    assert model.lower_bound_ == pytest.approx(model.score(X), abs=1e-10)


def test_a_start_below_the_floor_is_floored_before_it_competes():
    # scikit-learn's fit of a squashed cluster breaks our eigenvalue floor; as a
    # start it would outscore every floored fit and come back unfloored
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(200, 2)),
                   rng.normal(size=(200, 2)) * [1.0, 1e-4] + [6.0, 0.0]])
    ref = sklearn.mixture.GaussianMixture(2, random_state=0).fit(X)
    model = BigLearnGaussianMixture(2, weights_init=ref.weights_, means_init=ref.means_,
                                    precisions_init=ref.precisions_, random_state=0).fit(X)
    cold = BigLearnGaussianMixture(2, random_state=0).fit(X)
    assert np.linalg.eigvalsh(ref.covariances_).min() < 1e-5  # the start breaks the floor
    smallest = np.linalg.eigvalsh(model.covariances_).min()
    assert smallest >= 0.99 * np.linalg.eigvalsh(cold.covariances_).min() > 1e-4


def test_one_component_from_a_start_below_the_floor_ends_floored(rng):
    X = np.column_stack([rng.normal(size=200), 1e-6 * rng.normal(size=200)])
    raw = np.cov(X.T, bias=True)
    model = BigLearnGaussianMixture(1, means_init=X.mean(0)[None],
                                    precisions_init=np.linalg.inv(raw)[None]).fit(X)
    assert np.linalg.eigvalsh(model.covariances_[0]).min() > 100 * np.linalg.eigvalsh(raw).min()
