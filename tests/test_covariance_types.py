"""The covariance types "full", "tied", "diag" and "spherical": scikit-learn's
meanings, shapes and parameter counts, plain EM equal to scikit-learn's, the
views' write-back into each type (the closest member in KL). The same model
on every backend: test_backends.py::test_every_covariance_type_gives_numpys_model."""

import re
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from biglearn_em import BigLearnGaussianMixture, load
from biglearn_em.backends.kernels import precision_cholesky
from biglearn_em.backends.numpy import NumpyBackend
from biglearn_em.engine import loop as _em
from biglearn_em.engine.covariance import TYPES
from biglearn_em.engine.data import Data, Params, Settings
from biglearn_em.engine.step import view_step
from biglearn_em.engine.views import View, haar_frame, joint_view
from conftest import blobs, random_spd

NAMES = ("full", "tied", "diag", "spherical")
PLAIN = {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1, "eig_floor": 0}
NP = NumpyBackend()


def _start(rng, X, K, covariance_type):
    """A start of the type's shapes: random rows as means, the pooled
    variance as every covariance."""
    D = X.shape[1]
    v = X.var(0).mean()
    precisions = {"full": np.broadcast_to(np.eye(D) / v, (K, D, D)).copy(),
                  "tied": np.eye(D) / v, "diag": np.full((K, D), 1 / v),
                  "spherical": np.full(K, 1 / v)}[covariance_type]
    return {"weights_init": np.full(K, 1 / K),
            "means_init": X[rng.choice(len(X), K, replace=False)],
            "precisions_init": precisions}


@pytest.mark.parametrize("covariance_type", NAMES)
@pytest.mark.parametrize("K,D", [(3, 2), (4, 7)])
def test_plain_em_follows_scikit_learn_for_every_type(rng, covariance_type, K, D):
    X, _ = blobs(rng, K, D, 150, spread=2.0)  # overlapping: EM moves for many iterations
    X = X @ rng.normal(size=(D, D))  # correlated features: the types differ
    init = _start(rng, X, K, covariance_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(K, covariance_type=covariance_type, max_iter=50, tol=0,
                              reg_covar=1e-6, **init).fit(X)
        ours = BigLearnGaussianMixture(K, covariance_type=covariance_type, max_iter=50, tol=0,
                                       reg_covar=1e-6, **PLAIN, **init).fit(X)
    assert ours.n_iter_ == ref.n_iter_ == 50
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-8)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        got, want = getattr(ours, name), getattr(ref, name)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * np.abs(want).max())
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-8)
    assert ours._n_parameters() == ref._n_parameters()
    assert ours.bic(X) == pytest.approx(ref.bic(X), rel=1e-8)
    assert ours.aic(X) == pytest.approx(ref.aic(X), rel=1e-8)


@pytest.mark.parametrize("covariance_type", NAMES)
def test_biglearn_fit_has_the_types_shapes_and_inverse_precisions(rng, covariance_type):
    K, D = 3, 4
    X, _ = blobs(rng, K, D, 100)
    model = BigLearnGaussianMixture(K, covariance_type=covariance_type, max_iter=20,
                                    restarts=2, moves=2, random_state=0).fit(X)
    shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(model, name).shape == shape[covariance_type], name
    cov, prec, chol = model.covariances_, model.precisions_, model.precisions_cholesky_
    if covariance_type in ("full", "tied"):
        np.testing.assert_allclose(cov @ prec, np.broadcast_to(np.eye(D), cov.shape),
                                   atol=1e-10)
        np.testing.assert_allclose(chol @ np.swapaxes(chol, -1, -2), prec, rtol=1e-10)
        assert np.all(np.tril(chol, -1) == 0)
    else:
        np.testing.assert_allclose(cov * prec, 1.0, rtol=1e-12)
        np.testing.assert_allclose(chol**2, prec, rtol=1e-12)
    # the mean log-density is that of the dense mixture
    dense = TYPES[covariance_type].dense(TYPES[covariance_type].stored(cov), K, D)
    density = sum(w * multivariate_normal(m, c).pdf(X)
                  for w, m, c in zip(model.weights_, model.means_, dense, strict=True))
    assert model.score(X) == pytest.approx(np.log(density).mean(), rel=1e-10)
    samples, labels = model.sample(50)
    assert samples.shape == (50, D) and labels.shape == (50,)


def _kl(S, Q):
    """KL(N(0, S) || N(0, Q)) for D x D matrices."""
    D = len(S)
    solved = np.linalg.solve(Q, S)
    return 0.5 * (np.trace(solved) - D - np.linalg.slogdet(solved)[1])


def test_from_dense_is_the_closest_member_in_kl(rng):
    D = 5
    S = random_spd(rng, 1, D)[0]
    weights = np.array([1.0])
    for name in ("diag", "spherical"):
        cov = TYPES[name]
        best = cov.dense(cov.from_dense(weights, S[None]), 1, D)[0]
        for _ in range(20):  # every other member of the family is farther
            other = cov.dense(cov.from_dense(weights, S[None]) * rng.uniform(0.8, 1.25, size=(
                1, D) if name == "diag" else (1,)), 1, D)[0]
            assert _kl(S, best) <= _kl(S, other)
    # tied: the weighted mean of the matrices minimises sum_k w_k KL(S_k || Q)
    Ss, w = random_spd(rng, 3, D), np.array([0.5, 0.3, 0.2])
    Q = TYPES["tied"].from_dense(w, Ss)[0]
    for _ in range(20):
        E = rng.normal(scale=0.05, size=(D, D))
        other = Q + E @ E.T
        assert sum(wk * _kl(Sk, Q) for wk, Sk in zip(w, Ss, strict=True)) <= \
            sum(wk * _kl(Sk, other) for wk, Sk in zip(w, Ss, strict=True))


def _stored(rng, name, K, D):
    covs = random_spd(rng, K, D)
    return TYPES[name].from_dense(np.full(K, 1 / K), covs)


def _views(rng, D, m=3):
    return [View("marginal", D, index=np.sort(rng.choice(D, m, replace=False))),
            View("rotated", D, basis=haar_frame(rng, D, m).T)]


@pytest.mark.parametrize("name", ["tied", "diag", "spherical"])
@pytest.mark.parametrize("rule", ["block", "conditional"])
def test_write_back_is_the_full_rule_projected_onto_the_type(rng, name, rule):
    """The type's write-back equals the full-covariance rule applied to the
    dense covariances, then the closest member of the type in KL."""
    K, D = 3, 6
    cov, full = TYPES[name], TYPES["full"]
    means, covs = rng.normal(size=(K, D)), _stored(rng, name, K, D)
    weights = np.full(K, 1 / K)
    dense = cov.dense(covs, K, D)
    for view in _views(rng, D):
        means_v, covs_v = cov.view_params(view, means, covs)
        dense_means_v, dense_v = full.view_params(view, means, dense)
        np.testing.assert_allclose(means_v, dense_means_v, atol=1e-12)
        new_means_v = means_v + rng.normal(size=means_v.shape)
        prec_v = precision_cholesky(covs_v)
        # a new view covariance of the type's view shape, positive definite
        new_v = covs_v * rng.uniform(0.5, 2.0, size=covs_v.shape[:1] + (1,) * (covs_v.ndim - 1))
        got_means, got_covs = cov.write_back(NP, view, means, covs, (means_v, covs_v, prec_v),
                                             (new_means_v, new_v), rule)
        assert got_covs.shape == covs.shape
        new_dense_v = cov.dense(new_v, K, view.m) if covs_v.ndim < 3 else \
            np.broadcast_to(new_v, dense_v.shape)
        dense_prec_v = precision_cholesky(dense_v)
        want_means, want_dense = full.write_back(NP, view, means, dense,
                                                 (dense_means_v, dense_v, dense_prec_v),
                                                 (new_means_v, new_dense_v), rule)
        np.testing.assert_allclose(got_means, want_means, atol=1e-10)
        np.testing.assert_allclose(got_covs, cov.from_dense(weights, want_dense), atol=1e-10)


def test_rotated_views_of_diagonal_covariances_are_full_and_come_back_diagonal(rng):
    """A rotated view's E-step and M-step are full (P diag(s) P.T); the
    written-back model is diagonal and its joint likelihood is scored like any
    other's: the next joint step's log-likelihood is that of the model."""
    K, D = 3, 5
    X, _ = blobs(rng, K, D, 200, spread=2.0)
    data = Data.from_array(X, None)
    settings = Settings(view_probs=(0.0, 0.0, 1.0), subset_beta=(5.0, 1.0), n_inner=1,
                        smoothing=0.0, eig_floor=1e-4, reg_covar=0.0, update="conditional",
                        max_iter=10, tol=1e-3, patience=None, covariance_type="diag")
    Z = (X - data.shift) / data.scale
    params = Params(np.full(K, 1 / K), Z[rng.choice(len(Z), K, replace=False)],
                    np.ones((K, D)))
    view = View("rotated", D, basis=haar_frame(rng, D, 3).T)
    _, covs_v = settings.covariance.view_params(view, params.means, params.covs)
    assert covs_v.shape == (K, 3, 3)  # full in the view
    new, view_ll, _ = view_step(data, params, view, settings, 0.0)
    assert new.covs.shape == (K, D)
    # the view's log-likelihood is that of the projected data under the projected model
    P = view.basis
    dens = sum(w * multivariate_normal(m @ P.T, P @ np.diag(s) @ P.T).pdf(Z @ P.T)
               for w, m, s in zip(params.weights, params.means, params.covs, strict=True))
    assert view_ll == pytest.approx(np.log(dens).mean() - 3 * np.log(data.scale), rel=1e-10)
    # the joint step scores the written-back diagonal model
    _, joint_ll, _ = view_step(data, new, joint_view(D), settings, 0.0)
    dens = sum(w * multivariate_normal(m, np.diag(s)).pdf(Z)
               for w, m, s in zip(new.weights, new.means, new.covs, strict=True))
    assert joint_ll == pytest.approx(np.log(dens).mean() - D * np.log(data.scale), rel=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_every_view_kind_keeps_the_type(rng, name):
    K, D = 3, 6
    X, _ = blobs(rng, K, D, 100, spread=2.0)
    model = BigLearnGaussianMixture(K, covariance_type=name, view_probs=(0.2, 0.4, 0.4),
                                    max_iter=30, patience=None, restarts=0, moves=0,
                                    random_state=1).fit(X)
    kinds = {h["kind"] for h in model.history_}
    assert {"joint", "marginal", "rotated"} <= kinds
    assert np.isfinite(model.lower_bounds_).all()
    ref = GaussianMixture(K, covariance_type=name, random_state=1).fit(X)
    # the same optimum as scikit-learn on separated blobs
    assert model.score(X) >= ref.score(X) - 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_model_files_keep_the_type(rng, tmp_path, name):
    X, _ = blobs(rng, 2, 3, 60)
    model = BigLearnGaussianMixture(2, covariance_type=name, max_iter=5, random_state=0).fit(X)
    model.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert back.covariance_type == name
    np.testing.assert_array_equal(back.covariances_, model.covariances_)
    np.testing.assert_array_equal(back.score_samples(X), model.score_samples(X))
    # a type set after the fit does not change what the arrays are
    model.set_params(covariance_type="full" if name != "full" else "diag")
    np.testing.assert_array_equal(model.score_samples(X), back.score_samples(X))
    model.save(tmp_path / "n.npz")
    assert load(tmp_path / "n.npz").covariance_type == name


@pytest.mark.parametrize("name,shape", [("full", (2, 3, 3)), ("tied", (3, 3)),
                                        ("diag", (2, 3)), ("spherical", (2,))])
def test_precisions_init_has_the_types_shape(rng, name, shape):
    X, _ = blobs(rng, 2, 3, 50)
    wrong = (2, 3) if shape != (2, 3) else (3, 3)
    with pytest.raises(ValueError, match="'precisions_init'. The parameter '" + name
                       + " precision' should have the shape of " + re.escape(str(shape))):
        BigLearnGaussianMixture(2, covariance_type=name,
                                precisions_init=np.ones(wrong)).fit(X)
    if len(shape) < 3 and name != "tied":
        with pytest.raises(ValueError, match=f"'precisions_init'. '{name} precision' "
                                             "should be positive"):
            BigLearnGaussianMixture(2, covariance_type=name,
                                    precisions_init=-np.ones(shape)).fit(X)


def test_warm_start_refuses_another_type(rng):
    X, _ = blobs(rng, 2, 3, 50)
    model = BigLearnGaussianMixture(2, covariance_type="diag", warm_start=True,
                                    max_iter=3).fit(X)
    model.set_params(covariance_type="full")
    with pytest.raises(ValueError, match="covariance type.*'diag'.*'full'"):
        model.fit(X)


@pytest.mark.parametrize("name", ["diag", "spherical"])
def test_degenerate_columns_stay_finite(rng, name):
    """A constant column gives zero variances: floored, never NaN."""
    X, _ = blobs(rng, 3, 4, 80)
    X[:, 2] = 1.0
    model = BigLearnGaussianMixture(3, covariance_type=name, max_iter=20,
                                    random_state=0).fit(X)
    assert np.isfinite(model.covariances_).all() and (model.covariances_ > 0).all()
    assert np.isfinite(model.score_samples(X)).all()


@pytest.mark.parametrize("rule", ["conditional", "block"])
def test_rotated_views_keep_diagonal_variances_above_the_floor(rule):
    """The projection of the full rule's update onto diagonal matrices does
    not keep the floor by itself (it reached half of it on these data
    within 20 views)."""
    from biglearn_em.datasets import load_uci
    from biglearn_em.engine.init import initial_params
    from biglearn_em.engine.loop import State

    X = load_uci("pendigits")[0][:2000]
    data = Data.from_array(X, None)
    settings = Settings(view_probs=(0.0, 0.0, 1.0), subset_beta=(5.0, 1.0), n_inner=5,
                        smoothing=0.1, eig_floor=1e-4, reg_covar=0.0, update=rule,
                        max_iter=100, tol=1e-3, patience=None, covariance_type="diag")
    r = np.random.default_rng(0)
    state = State.start(initial_params(data, 10, "kmeans", r, settings), settings)
    lowest = np.inf
    for _ in range(20):
        _em.advance(data, state, settings, r)
        lowest = min(lowest, state.params.covs.min())
    assert lowest >= 1e-4 * (1 - 1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_no_variance_below_the_floor_on_discrete_data(name):
    """Pendigits' integer pixels put many rows on one value: the moves' split
    halves and the projected write-back must be floored like every M-step,
    or a variance collapses (seen at 1e-30, with likelihoods of 1e12)."""
    from biglearn_em.datasets import load_uci

    X = load_uci("pendigits")[0][:3000]
    model = BigLearnGaussianMixture(10, covariance_type=name, eig_floor=0.05, max_iter=40,
                                    random_state=0).fit(X)
    cov = TYPES[name]
    dense = cov.dense(cov.stored(model.covariances_), 10, X.shape[1])
    assert np.linalg.eigvalsh(dense).min() >= 0.05 * (1 - 1e-9)
    assert model.lower_bound_ == pytest.approx(model.score(X), abs=0.05)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("name", ["tied", "diag", "spherical"])
def test_interrupted_fit_resumes_to_the_same_model(rng, tmp_path, name):
    X, _ = blobs(rng, 4, 3, 100, spread=2.5)
    settings = dict(covariance_type=name, max_iter=40, patience=None, random_state=5)
    reference = BigLearnGaussianMixture(4, **settings).fit(X)

    def stop(record):  # in the views, after the restarts and the moves
        if record["kind"] in ("joint", "marginal", "rotated") and record["iteration"] >= 20:
            raise _Stop

    path = tmp_path / "fit.ckpt"
    with pytest.raises(_Stop):
        BigLearnGaussianMixture(4, checkpoint=path, checkpoint_interval=0, callback=stop,
                                **settings).fit(X)
    resumed = BigLearnGaussianMixture(4, checkpoint=path, **settings).fit(X)
    np.testing.assert_array_equal(resumed.covariances_, reference.covariances_)
    assert resumed.lower_bounds_ == reference.lower_bounds_
    # a checkpoint of another covariance type is refused
    other = "diag" if name != "diag" else "tied"
    with pytest.raises(ValueError, match="other data or settings"):
        BigLearnGaussianMixture(4, checkpoint=path, **dict(settings, covariance_type=other)
                                ).fit(X)
