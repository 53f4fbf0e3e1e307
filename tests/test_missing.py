"""Missing values (NaN): the E-step of rows with gaps against a per-row loop
written here from SciPy's densities and explicit Schur complements, EM under
values missing at random against a naive implementation, each view kind on
incomplete rows, predictions by the observed part, every backend and
covariance type, weights, and the issue's target on a known mixture."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from biglearn_em import BigLearnGaussianMixture, select_model
from biglearn_em.backends import NumpyBackend
from biglearn_em.engine import Data, Params, Settings, View, missing, view_step

TYPES = ("full", "tied", "diag", "spherical")
PLAIN = {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1, "tol": 1e-12,
         "restarts": 0, "moves": 0, "eig_floor": 0.0}


def _gappy(n: int, D: int, rate: float, seed: int = 0):
    """Rows of three clusters with ``rate`` of their entries removed at random
    (every row keeps one observed value)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (3, D))
    X = centres[rng.integers(3, size=n)] + rng.normal(size=(n, D))
    gaps = rng.random((n, D)) < rate
    gaps[np.arange(n), rng.integers(D, size=n)] = False
    Xm = X.copy()
    Xm[gaps] = np.nan
    return X, Xm


def _mixture(K: int, m: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(K, m, m))
    covs = A @ A.swapaxes(1, 2) + 0.5 * np.eye(m)
    return rng.dirichlet(np.ones(K)), rng.normal(size=(K, m)), covs


def _by_rows(Y, w, weights, means, covs, centres):
    """The E-step of rows with gaps, one row and component at a time."""
    K, m = means.shape
    nk, s1, s2, ll = np.zeros(K), np.zeros((K, m)), np.zeros((K, m, m)), 0.0
    for y, wy in zip(Y, w):
        o = ~np.isnan(y)
        u = ~o
        lp = np.array([np.log(weights[k])
                       + multivariate_normal(means[k][o], covs[k][np.ix_(o, o)]).logpdf(y[o])
                       for k in range(K)])
        norm = np.logaddexp.reduce(lp)
        ll += wy * norm
        for k in range(K):
            r = wy * np.exp(lp[k] - norm)
            S = covs[k]
            filled, C = y.copy(), np.zeros((m, m))
            if u.any():
                # the Schur complement of the observed block
                B = S[np.ix_(u, o)] @ np.linalg.inv(S[np.ix_(o, o)])
                filled[u] = means[k][u] + B @ (y[o] - means[k][o])
                C[np.ix_(u, u)] = S[np.ix_(u, u)] - B @ S[np.ix_(o, u)]
            e = filled - centres[k]
            nk[k] += r
            s1[k] += r * e
            s2[k] += r * (np.outer(e, e) + C)
    return nk, s1, s2, ll


@pytest.mark.parametrize("kernel", ["moments", "deviations"])
@pytest.mark.parametrize("weighted", [False, True])
def test_e_step_equals_a_loop_over_rows(monkeypatch, kernel, weighted):
    if kernel == "deviations":
        monkeypatch.setattr(missing, "FEATURES_BELOW", 0)
    rng = np.random.default_rng(2)
    _, Y = _gappy(250, 4, 0.35)
    weights, means, covs = _mixture(3, 4)
    w = rng.random(len(Y)) * 2 if weighted else np.ones(len(Y))
    centres = rng.normal(size=means.shape)
    be = NumpyBackend()
    stats = be.new_stats(centres)
    missing.e_step(be, Y, w if weighted else None, weights, means, covs, stats, 0.0, False)
    nk, s1, s2, ll = _by_rows(Y, w, weights, means, covs, centres)
    for got, want in ((stats.nk, nk), (stats.s1, s1), (stats.s2, s2), (stats.ll, ll)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * max(1.0, np.abs(want).max()))
    assert stats.n == pytest.approx(w.sum())


def test_e_step_in_groups_of_patterns_adds_up(monkeypatch):
    """A chunk's patterns taken a few at a time (bounded memory) give the sums of all at once."""
    _, Y = _gappy(400, 5, 0.4, seed=3)
    weights, means, covs = _mixture(4, 5)
    be = NumpyBackend()
    whole = be.new_stats(means)
    missing.e_step(be, Y, None, weights, means, covs, whole, 0.0, False)
    monkeypatch.setattr(missing, "WORK_SIZE", 1)  # one pattern per group
    parts = be.new_stats(means)
    missing.e_step(be, Y, None, weights, means, covs, parts, 0.0, False)
    assert len(list(missing.layout(~np.isnan(Y)).groups(4))) > 10
    for name in ("nk", "s1", "s2", "ll"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=1e-12,
                                   atol=1e-10)


@pytest.mark.parametrize("stored", ["tied", "diag", "spherical"])
def test_e_step_reads_every_stored_covariance(stored):
    """Tied (1, m, m), diagonal (K, m) and spherical (K,) covariances are read
    as the matrices they stand for."""
    _, Y = _gappy(120, 3, 0.3, seed=4)
    weights, means, full = _mixture(3, 3)
    covs = {"tied": full[:1], "diag": np.diagonal(full, 0, 1, 2).copy(),
            "spherical": np.array([0.5, 1.0, 2.0])}[stored]
    dense = {"tied": np.repeat(full[:1], 3, 0),
             "diag": np.stack([np.diag(np.diagonal(c)) for c in full]),
             "spherical": np.array([0.5, 1.0, 2.0])[:, None, None] * np.eye(3)}[stored]
    be = NumpyBackend()
    stats = be.new_stats(means)
    missing.e_step(be, Y, None, weights, means, covs, stats, 0.0, False)
    nk, s1, s2, ll = _by_rows(Y, np.ones(len(Y)), weights, means, dense, means)
    np.testing.assert_allclose(stats.s2, s2, atol=1e-10)
    np.testing.assert_allclose(stats.ll, ll, atol=1e-10)


def test_log_prob_and_completion_equal_closed_forms():
    _, Y = _gappy(150, 4, 0.4, seed=5)
    weights, means, covs = _mixture(3, 4)
    be = NumpyBackend()
    lp = missing.log_prob(be, Y, weights, means, covs)
    filled = missing.complete(be, Y, weights, means, covs)
    for n, y in enumerate(Y):
        o = ~np.isnan(y)
        want = [np.log(weights[k]) + multivariate_normal(means[k][o],
                                                         covs[k][np.ix_(o, o)]).logpdf(y[o])
                for k in range(3)]
        np.testing.assert_allclose(lp[:, n], want, atol=1e-10)
        post = np.exp(np.array(want) - np.logaddexp.reduce(want))
        u = ~o
        cond = sum(post[k] * (means[k][u] + covs[k][np.ix_(u, o)]
                              @ np.linalg.solve(covs[k][np.ix_(o, o)], y[o] - means[k][o]))
                   for k in range(3))
        np.testing.assert_allclose(filled[n][u], cond, atol=1e-10)
        np.testing.assert_array_equal(filled[n][o], y[o])


def _naive_mar_em(Y, weights, means, covs, steps: int):
    """EM under values missing at random, one row at a time (full covariances)."""
    for _ in range(steps):
        nk, s1, s2, _ = _by_rows(Y, np.ones(len(Y)), weights, means, covs, np.zeros_like(means))
        weights = nk / nk.sum()
        means = s1 / nk[:, None]
        covs = s2 / nk[:, None, None] - means[:, :, None] * means[:, None, :]
    return weights, means, covs


def test_plain_em_on_incomplete_rows_is_em_under_mar():
    """The fit's plain-EM recipe from a given start follows a naive EM that
    handles one row at a time, step for step, and never lowers the
    observed-data likelihood."""
    X, Y = _gappy(90, 3, 0.3, seed=6)
    K = 3
    start_means = np.nan_to_num(Y[[0, 45, 89]], nan=0.0)
    start = {"weights_init": np.full(K, 1 / K), "means_init": start_means,
             "precisions_init": np.stack([np.eye(3)] * K)}
    model = BigLearnGaussianMixture(K, max_iter=6, **PLAIN, **start)
    with pytest.warns(Warning):  # 6 steps: not converged
        model.fit(Y)
    w, mu, S = _naive_mar_em(Y, np.full(K, 1 / K), start_means, np.stack([np.eye(3)] * K), 6)
    np.testing.assert_allclose(model.weights_, w, atol=1e-9)
    np.testing.assert_allclose(model.means_, mu, atol=1e-9)
    np.testing.assert_allclose(model.covariances_, S, atol=1e-9)
    trace = [r["log_likelihood"] for r in model.history_ if r["log_likelihood"] is not None]
    assert len(trace) >= 5 and np.all(np.diff(trace) >= -1e-12)


def _internal(Y):
    data = Data.from_array(Y, None)
    assert data.missing
    settings = Settings(view_probs=(1, 0, 0), subset_beta=(5, 1), n_inner=1, smoothing=0,
                        eig_floor=0.0, reg_covar=0.0, update="block", max_iter=1, tol=0,
                        patience=None)
    weights, means, covs = _mixture(3, Y.shape[1])
    return data, settings, Params(weights, means, covs)


def test_a_marginal_view_reads_only_its_coordinates():
    """A marginal view on incomplete rows is exact on the coordinates each row
    observes in the view: what lies outside the view changes nothing."""
    _, Y = _gappy(200, 5, 0.3, seed=7)
    index = np.array([1, 3])
    Y = Y[~np.isnan(Y[:, index]).all(1)]  # every row observes the view
    other = Y.copy()
    other[:, [0, 2, 4]] = np.nan
    other[:, 0] = 7.0  # the shift and scale must match: keep one column, values aside
    view = View("marginal", 5, index=index)
    data, settings, params = _internal(Y)
    here = view_step(data, params, view, settings, 0.0)
    moved = Data(other, data.shift, data.scale, data.chunk_size, missing=True)
    there = view_step(moved, params, view, settings, 0.0)
    np.testing.assert_allclose(there[0].means, here[0].means, atol=1e-12)
    np.testing.assert_allclose(there[0].covs, here[0].covs, atol=1e-12)
    assert there[1] == pytest.approx(here[1], abs=1e-12)


def test_a_rotated_view_sees_rows_completed_by_their_conditional_mean():
    _, Y = _gappy(200, 4, 0.3, seed=8)
    data, settings, params = _internal(Y)
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0][:2]
    view = View("rotated", 4, basis=basis)
    got = view_step(data, params, view, settings, 0.0)
    be = NumpyBackend()
    Z = next(data.gappy_chunks())
    filled = missing.complete(be, Z, params.weights, params.means, params.covs)
    complete = Data(filled, np.zeros(4), 1.0, data.chunk_size)
    want = view_step(complete, params, view, settings, 0.0)
    np.testing.assert_allclose(got[0].means, want[0].means, atol=1e-12)
    np.testing.assert_allclose(got[0].covs, want[0].covs, atol=1e-12)


def test_predictions_use_the_marginal_of_the_observed_part():
    X, Y = _gappy(600, 4, 0.25, seed=9)
    model = BigLearnGaussianMixture(3, random_state=0).fit(X)
    rows = Y[:40]
    dens = model.score_samples(rows)
    proba = model.predict_proba(rows)
    for n, y in enumerate(rows):
        o = np.flatnonzero(~np.isnan(y))
        marg = model.marginal(o)
        assert dens[n] == pytest.approx(marg.score_samples(y[o][None])[0], abs=1e-10)
        np.testing.assert_allclose(proba[n], marg.predict_proba(y[o][None])[0], atol=1e-10)
    np.testing.assert_array_equal(model.predict(rows), proba.argmax(1))
    # complete rows: the kernels of complete data, unchanged
    np.testing.assert_array_equal(model.score_samples(X[:5]),
                                  model.score_samples(np.vstack([X[:5], Y[5:6]]))[:5])
    with pytest.raises(ValueError, match="1 row with no observed value"):
        model.predict(np.vstack([X[:3], np.full((1, 4), np.nan)]))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", TYPES)
def test_every_backend_fits_incomplete_rows_as_numpy_does(backend, covariance_type):
    X, Y = _gappy(150, 3, 0.3, seed=10)
    start = {"weights_init": np.full(3, 1 / 3),
             "means_init": np.nan_to_num(Y[[0, 70, 140]], nan=0.0),
             "precisions_init": {"full": np.stack([np.eye(3)] * 3), "tied": np.eye(3),
                                 "diag": np.ones((3, 3)), "spherical": np.ones(3)}[
                 covariance_type]}
    kw = {**PLAIN, "tol": 1e-8, "max_iter": 200, **start, "covariance_type": covariance_type}
    ref = BigLearnGaussianMixture(3, **kw).fit(Y)
    got = BigLearnGaussianMixture(3, **kw).fit(backend.put(Y))
    tol = max(backend.tol, 1e-12) * 100
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(backend.get(getattr(got, name)), getattr(ref, name),
                                   atol=tol, err_msg=name)
    np.testing.assert_allclose(backend.get(got.score_samples(backend.put(Y))),
                               ref.score_samples(Y), atol=1e-7)
    assert np.isfinite(ref.score(Y))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_default_fits_of_every_type_are_finite_and_beat_mean_imputation(covariance_type):
    X, Y = _gappy(900, 4, 0.3, seed=11)
    kw = {"n_components": 3, "covariance_type": covariance_type, "random_state": 0}
    ours = BigLearnGaussianMixture(**kw).fit(Y)
    filled = np.where(np.isnan(Y), np.nanmean(Y, axis=0), Y)
    mean_imputed = BigLearnGaussianMixture(**kw).fit(filled)
    assert np.isfinite(ours.means_).all() and np.isfinite(ours.covariances_).all()
    assert ours.score(X) > mean_imputed.score(X)
    # every phase of the default fit ran on the incomplete rows
    assert {"restart", "refine", "polish"} <= {r["kind"] for r in ours.history_}


def test_integer_weights_equal_repeated_incomplete_rows():
    _, Y = _gappy(80, 3, 0.3, seed=12)
    w = np.random.default_rng(0).integers(0, 4, len(Y))
    start = {"weights_init": np.full(3, 1 / 3),
             "means_init": np.nan_to_num(Y[[0, 40, 79]], nan=0.0),
             "precisions_init": np.stack([np.eye(3)] * 3)}
    kw = {**PLAIN, "tol": 1e-10, "max_iter": 300, **start}
    weighted = BigLearnGaussianMixture(3, **kw).fit(Y, sample_weight=w)
    repeated = BigLearnGaussianMixture(3, **kw).fit(np.repeat(Y, w, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), atol=1e-8)


def test_thirty_percent_missing_from_a_known_mixture_costs_little():
    """The issue's target on a known mixture (D = 5, 30% missing completely at
    random): the held-out complete-data log-likelihood within 0.05 nats per
    sample of the fit on complete data."""
    rng = np.random.default_rng(13)
    D, K = 5, 3
    weights, means, covs = _mixture(K, D, seed=14)
    means *= 3

    def draw(n):
        z = rng.choice(K, n, p=weights)
        return means[z] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[z],
                                    rng.normal(size=(n, D)))

    X, test = draw(3000), draw(3000)
    Y = X.copy()
    Y[rng.random(X.shape) < 0.3] = np.nan
    Y = Y[~np.isnan(Y).all(1)]
    full = BigLearnGaussianMixture(K, random_state=0).fit(X).score(test)
    ours = BigLearnGaussianMixture(K, random_state=0).fit(Y).score(test)
    assert full - ours < 0.05


def test_complete_data_take_the_kernels_of_complete_data(monkeypatch):
    """Without a NaN, nothing of engine/missing.py runs (the reference fits
    stay bit-identical: tests/test_reference_fits.py)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the gappy kernel ran on complete data")

    monkeypatch.setattr(missing, "e_step", refuse)
    monkeypatch.setattr(missing, "log_prob", refuse)
    X, _ = _gappy(300, 3, 0.0)
    model = BigLearnGaussianMixture(3, random_state=0).fit(X)
    model.score_samples(X)
    assert not Data.from_array(X, None).missing


def test_model_selection_reads_incomplete_rows():
    _, Y = _gappy(300, 3, 0.2, seed=15)
    result = select_model(Y, [1, 3, 5], covariance_types=["full"], cv=3, random_state=0)
    assert result.best_n_components == 3
    assert not result.failed
    best = result.candidates[result.best_index]
    # the table's rows are the estimator's own observed-data scores
    assert best.train_log_likelihood == pytest.approx(result.best_estimator_.score(Y), abs=1e-12)
    assert best.bic == pytest.approx(result.best_estimator_.bic(Y), abs=1e-9)


def test_batched_spd_inverse_equals_lapack():
    """The NumPy backend inverts many small matrices column by column over the
    batch (below TRIANGULAR_FROM), and larger ones with LAPACK."""
    from biglearn_em.backends import kernels

    rng = np.random.default_rng(16)
    for m in (1, 3, 11, kernels.TRIANGULAR_FROM + 2):
        A = rng.normal(size=(40, m, m))
        S = A @ A.swapaxes(1, 2) + 0.1 * np.eye(m)
        inv, log_det = NumpyBackend().spd_inverse(S)
        np.testing.assert_allclose(inv, np.linalg.inv(S), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(log_det, np.linalg.slogdet(S)[1], atol=1e-10)
    with pytest.raises(np.linalg.LinAlgError):
        NumpyBackend().spd_inverse(-np.eye(3)[None])


def test_a_row_with_nothing_observed_is_refused_before_the_fit_even_at_weight_zero(monkeypatch):
    _, Y = _gappy(60, 3, 0.2, seed=17)
    Y[5] = np.nan
    w = np.ones(len(Y))
    w[5] = 0.0
    monkeypatch.setattr(missing, "e_step", None)  # no E-step may run
    with pytest.raises(ValueError, match="^X has 1 row with no observed value"):
        BigLearnGaussianMixture(2, random_state=0).fit(Y, sample_weight=w)


class _Stop(Exception):
    pass


def test_an_interrupted_fit_on_incomplete_rows_resumes_where_it_would_have_ended(tmp_path):
    _, Y = _gappy(200, 3, 0.25, seed=18)
    kw = {"n_components": 3, "max_iter": 80, "patience": None, "random_state": 5}
    reference = BigLearnGaussianMixture(**kw).fit(Y)

    def stop(record):
        if record["iteration"] == 30:
            raise _Stop

    path = tmp_path / "fit.ckpt"
    with pytest.raises(_Stop):
        BigLearnGaussianMixture(checkpoint=path, checkpoint_interval=0, callback=stop,
                                **kw).fit(Y)
    resumed = BigLearnGaussianMixture(checkpoint=path, **kw).fit(Y)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name))
    assert resumed.history_ == reference.history_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_warm_refit_on_incomplete_rows_never_ends_below_its_start():
    _, Y = _gappy(300, 3, 0.3, seed=19)
    model = BigLearnGaussianMixture(3, random_state=0, max_iter=3, warm_start=True)
    model.fit(Y)
    scores = [model.score(Y)]
    for _ in range(3):
        model.fit(Y)
        scores.append(model.score(Y))
    assert np.all(np.diff(scores) >= -1e-12)


def test_rotated_steps_reuse_the_fit_s_layout(monkeypatch):
    """The chunks with gaps are laid out once per fit: views of every kind,
    rotated ones included, read the kept layout."""
    calls = []
    original = missing.prepare

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(missing, "prepare", counting)
    _, Y = _gappy(300, 4, 0.3, seed=20)
    model = BigLearnGaussianMixture(3, random_state=0, chunk_size=100).fit(Y)
    assert any(r["kind"] == "rotated" for r in model.history_)
    # 3 chunks of the fit's data, laid out once; the labels at the end (3 chunks) again
    assert len(calls) <= 6


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_one_component_with_gaps_is_em_to_convergence_not_one_step(covariance_type):
    # complete data: one M-step is the maximum; with gaps the conditional
    # expectations move with the parameters (one step ended 0.075 nats short here)
    rng = np.random.default_rng(0)
    cov = [[1.0, 0.9, 0.5], [0.9, 1.0, 0.3], [0.5, 0.3, 1.0]]
    X = rng.multivariate_normal([0, 0, 0], cov, size=2000)
    X[rng.random(X.shape) < 0.3] = np.nan
    X = X[~np.isnan(X).all(1)]
    fit = BigLearnGaussianMixture(1, covariance_type=covariance_type, random_state=0).fit(X)
    em = BigLearnGaussianMixture(1, covariance_type=covariance_type, view_probs=(1, 0, 0),
                                 tol=1e-10, max_iter=1000, random_state=0).fit(X)
    assert fit.converged_ and fit.n_em_steps_ > 1
    assert fit.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-3)
    np.testing.assert_allclose(fit.covariances_, em.covariances_, atol=0.01)


def test_a_blown_up_component_without_a_floor_still_explains_incomplete_rows():
    # repeated points without a floor: a component that lost its rows came back
    # with entries near 1e16, whose observed blocks could not be factorised
    # (33 of 40 such fits raised LinAlgError); their eigenvalues are clipped now
    for seed in range(4):
        rng = np.random.default_rng(seed)
        X = np.vstack([np.repeat(rng.normal(size=(3, 3)), 20, axis=0), rng.normal(size=(30, 3))])
        X[::9, 1] = np.nan
        w = rng.integers(1, 3, len(X)).astype(float)
        for K in (5, 6):
            model = BigLearnGaussianMixture(K, eig_floor=0, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, sample_weight=w)
            assert np.isfinite(model.score(X, sample_weight=w))
            assert np.all(np.isfinite(model.means_))
