"""The fit strategy: short EM runs from the start and from new k-means++
starts, plain EM from the best, split-and-merge moves, the views and the
polish; a given start honoured; resumable in every phase; a time limit; the
search on a subsample of large data."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.engine import loop as _em
from biglearn_em.engine import moves as _moves
from biglearn_em.fitting import Fit
from conftest import blobs, fit_quietly

PLAIN = {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1}



def _kinds(model):
    """The phases of a fit in the order they ran, each once."""
    out = []
    for record in model.history_:
        kind = record["kind"] if record["kind"] in ("restart", "refine", "move", "polish") \
            else "view"
        if not out or out[-1] != kind:
            out.append(kind)
    return out


def test_the_phases_run_in_order(rng):
    X, _ = blobs(rng, 4, 2, 100, spread=5.0)
    model = fit_quietly(X, n_components=4, restarts=3, moves=2, random_state=0, max_iter=30)
    assert _kinds(model) in (["restart", "refine", "move", "view", "polish"],
                             ["restart", "refine", "view", "polish"])  # no useful split
    assert sum(r["kind"] == "restart" for r in model.history_) == 4  # the start + 3
    # restarts=0: the paper's flow, views from the start
    paper = fit_quietly(X, n_components=4, restarts=0, random_state=0, max_iter=30)
    assert _kinds(paper) == ["view", "polish"]
    # plain EM never restarts
    plain = fit_quietly(X, n_components=4, restarts=5, moves=5, random_state=0, **PLAIN)
    assert {r["kind"] for r in plain.history_} == {"joint"}


def test_a_given_start_is_the_first_run(rng):
    X, _ = blobs(rng, 3, 2, 80, spread=4.0)
    start = {"weights_init": np.full(3, 1 / 3), "means_init": rng.normal(size=(3, 2)),
             "precisions_init": np.broadcast_to(np.eye(2), (3, 2, 2)).copy()}
    model = fit_quietly(X, n_components=3, restarts=4, restart_iter=7, random_state=1, **start)
    # plain EM from the same start, stopped as a short run stops
    alone = fit_quietly(X, n_components=3, max_iter=7, **PLAIN, **start)
    first = model.history_[0]
    assert first["kind"] == "restart"
    assert first["log_likelihood"] == alone.lower_bounds_[-1]


def test_never_worse_than_the_best_run(rng):
    X, _ = blobs(rng, 5, 3, 60, spread=2.5)
    model = fit_quietly(X, n_components=5, restarts=6, moves=3, random_state=2, max_iter=40)
    best_run = max(r["log_likelihood"] for r in model.history_ if r["kind"] == "restart")
    assert model.score(X) >= best_run - 1e-9


def test_restarts_find_what_the_given_start_misses():
    # the paper's grid25 from its random start: plain EM from it stays stuck
    from biglearn_em.datasets import GRID25_SEEDS, make_grid25
    from biglearn_em.experiments import grid25

    X, _ = make_grid25(GRID25_SEEDS[0])
    start = grid25.paper_init(GRID25_SEEDS[0])
    stuck = fit_quietly(X, n_components=25, tol=1e-6, max_iter=500, **PLAIN, **start)
    ours = fit_quietly(X, n_components=25, random_state=0, **start)
    assert ours.score(X) > stuck.score(X) + 0.05


@pytest.mark.parametrize("stop_kind", ["restart", "refine", "move", "joint", "polish"])
def test_resuming_in_any_phase_gives_the_uninterrupted_model(tmp_path, stop_kind):
    X, _ = blobs(np.random.default_rng(7), 5, 2, 80, spread=3.0)
    # search_rows=300 of 400: the restarts and views on a subsample, which the
    # resumed fit must draw again (on that subsample no move is proposed, so
    # the moves are stopped in a fit on all rows)
    kw = {"n_components": 5, "restarts": 3, "moves": 3, "random_state": 3, "max_iter": 25,
          "search_rows": None if stop_kind == "move" else 300}
    ref = fit_quietly(X, **kw)
    assert stop_kind in {r["kind"] for r in ref.history_}
    path = tmp_path / "fit.ckpt"

    class Stop(Exception):
        pass

    def stop(record):
        if record["kind"] == stop_kind:
            raise Stop

    with pytest.raises(Stop):
        fit_quietly(X, checkpoint=path, checkpoint_interval=0, callback=stop, **kw)
    resumed = fit_quietly(X, checkpoint=path, **kw)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(ref, name))
    assert resumed.history_ == ref.history_


def test_max_time_stops_with_the_best_so_far(rng):
    X, _ = blobs(rng, 6, 4, 300, spread=3.0)
    with pytest.warns(ConvergenceWarning, match=r"max_time \(0\.05 s\) reached"):
        # patience=None: 1,000 outer iterations of views, far beyond 0.05 s
        model = BigLearnGaussianMixture(6, max_time=0.05, patience=None,
                                        random_state=0).fit(X)
    assert not model.converged_
    assert np.all(np.isfinite(model.means_)) and np.isfinite(model.score(X))
    np.testing.assert_allclose(model.weights_.sum(), 1.0)


def test_the_search_runs_on_a_subsample_of_large_data(rng):
    X, y = blobs(rng, 4, 3, 500, spread=5.0)  # N = 2000
    kw = {"n_components": 4, "restarts": 2, "random_state": 5, "max_iter": 20}
    small = fit_quietly(X, search_rows=300, **kw)
    again = fit_quietly(X, search_rows=300, **kw)
    np.testing.assert_array_equal(small.means_, again.means_)  # the same subsample
    whole = fit_quietly(X, search_rows=None, **kw)
    # the refinement and the polish ran on all rows: both find the 4 blobs
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, small.labels_) == adjusted_rand_score(y, whole.labels_) == 1
    assert not np.array_equal(small.means_, whole.means_)


# ------------------------------------------------------------------ moves
def _three_clusters():
    """Clusters A, B, C on a line; two components share A, one spans B and C."""
    rng = np.random.default_rng(11)
    centres = np.array([[-6.0, 0.0], [0.0, 0.0], [6.0, 0.0]])
    X = np.vstack([rng.normal(c, 0.5, (150, 2)) for c in centres])
    weights = np.array([1 / 6, 1 / 6, 2 / 3])
    means = np.array([[-6.0, 0.3], [-6.0, -0.3], [3.0, 0.0]])
    covs = np.array([0.25 * np.eye(2), 0.25 * np.eye(2), np.diag([9.25, 0.25])])
    return X, weights, means, covs


def test_merge_costs_and_splits_find_the_shared_and_the_spanning_component():
    X, weights, means, covs = _three_clusters()
    costs = _moves.merge_costs(weights, means, covs, len(X), 1e-6)
    assert np.unravel_index(np.argmin(costs), costs.shape) in ((0, 1), (1, 0))
    owners = np.argmin([((X - m) ** 2).sum(1) / np.diag(S)[0] for m, S in zip(means, covs)],
                       axis=0)
    owners[X[:, 0] > -3] = 2  # B and C belong to the spanning component
    cuts = _moves.splits(lambda: iter(np.array_split(X, 7)), owners, 3, 1e-6)
    assert cuts[0].k == 2 and cuts[0].gain > 100
    np.testing.assert_allclose(sorted(cuts[0].means[:, 0]), [0.0, 6.0], atol=0.2)
    assert _moves.proposals(costs, cuts, 3)[0] == (0, 1, 2)


def test_a_cut_is_the_same_in_any_chunks_and_matches_its_halves(rng):
    X = np.vstack([rng.normal(c, 0.4, (120, 3)) for c in ([0, 0, 0], [3, 0, 0], [0, 4, 1])])
    owners = np.where(X[:, 1] > 2, 1, 0)  # component 0 spans the first two clusters
    whole = _moves.splits(lambda: iter([X]), owners, 2, 1e-9)
    chunked = _moves.splits(lambda: iter(np.array_split(X, 11)), owners, 2, 1e-9)
    assert [c.k for c in whole] == [c.k for c in chunked]
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a.means, b.means, atol=1e-12)
        np.testing.assert_allclose(a.covs, b.covs, atol=1e-12)
        assert a.gain == pytest.approx(b.gain, rel=1e-12)
    cut = next(c for c in whole if c.k == 0)
    rows = X[owners == 0]
    # the halves are the two clusters, with their own sample moments
    first = np.linalg.norm(rows - cut.means[0], axis=1) < np.linalg.norm(rows - cut.means[1],
                                                                        axis=1)
    for half, mean, cov, fraction in zip((rows[first], rows[~first]), cut.means, cut.covs,
                                         cut.fractions):
        assert len(half) == 120
        np.testing.assert_allclose(mean, half.mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(cov, np.cov(half.T, bias=True), atol=1e-12)
        assert fraction == pytest.approx(0.5)
    # gain: the rows' Gaussian log-likelihood under the two halves less under one
    def loglik(Z):
        return -0.5 * len(Z) * np.linalg.slogdet(np.cov(Z.T, bias=True))[1]
    expected = (loglik(rows[first]) + loglik(rows[~first]) + 240 * np.log(0.5)) - loglik(rows)
    assert cut.gain == pytest.approx(expected, rel=1e-9)


def test_apply_matches_moments_and_places_the_halves():
    _, weights, means, covs = _three_clusters()
    cut = _moves.Split(2, 1.0, np.array([0.5, 0.5]), np.array([[0.0, 0.0], [6.0, 0.0]]),
                       np.stack([0.25 * np.eye(2)] * 2))
    w, mu, S = _moves.apply(weights, means, covs, (0, 1, 2), cut)
    np.testing.assert_allclose(w.sum(), 1.0)
    np.testing.assert_allclose(w[0], weights[0] + weights[1])
    np.testing.assert_allclose(mu[0], [-6.0, 0.0])
    # the merged covariance holds the spread of the two means
    np.testing.assert_allclose(S[0], 0.25 * np.eye(2) + np.diag([0.0, 0.09]))
    np.testing.assert_allclose(mu[[2, 1]], cut.means)
    np.testing.assert_allclose(w[[2, 1]], [1 / 3, 1 / 3])


def test_a_move_repairs_a_shared_and_a_spanning_component():
    X, weights, means, covs = _three_clusters()
    model = BigLearnGaussianMixture(3, restarts=1, moves=3, random_state=0)
    fit = Fit.prepare(model, X)
    data, settings = fit.data, fit.settings
    state = _em.State(_em.Params(weights, (means - data.shift) / data.scale,
                                 covs / data.scale**2), "moves")
    _em._begin_moves(data, data, state, settings)
    before = state.moves_ll
    record = _em._move_iteration(data, data, state, settings)
    assert record.accepted and record.move == [0, 1, 2]
    assert record.log_likelihood > before + 0.3


def test_auto_search_rows_hold_about_50_d_rows_per_component(rng):
    X = rng.normal(size=(30_000, 3))

    def rows(**kw):
        model = BigLearnGaussianMixture(**kw)
        return Fit.prepare(model, X).search_rows()

    assert rows(n_components=4) == 20_000  # the floor
    assert rows(n_components=150) == 22_500  # 50 K D
    assert rows(n_components=400) == 30_000  # all rows
    assert rows(n_components=4, search_rows=None) == 30_000
    assert rows(n_components=4, search_rows=500) == 500
    assert rows(n_components=4, view_probs=(1, 0, 0)) == 30_000  # plain EM never searches


def test_kept_moves_raise_the_likelihood_every_time():
    # With a large floor an M-step can lower the likelihood; moves kept by the
    # likelihood of another parameter set than the one kept accepted merges
    # and splits back and forth (375 kept moves here before the fix)
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    X = PCA(10, random_state=0).fit_transform(load_digits().data / 16.0)
    model = BigLearnGaussianMixture(10, eig_floor=0.05, random_state=0, max_time=60).fit(X)
    moves = [r for r in model.history_ if r["kind"] == "move"]
    kept = [r["log_likelihood"] for r in moves if r["accepted"]]
    assert len(moves) < 50
    assert all(b > a + model.tol for a, b in zip(kept, kept[1:]))
    assert model.lower_bound_ >= max(kept, default=-np.inf)


def test_moves_stop_after_max_iter_proposals():
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    X = PCA(10, random_state=0).fit_transform(load_digits().data / 16.0)
    model = BigLearnGaussianMixture(10, eig_floor=0.05, random_state=0, max_iter=3).fit(X)
    assert sum(r["kind"] == "move" for r in model.history_) <= 3


def test_a_warm_start_continues_with_the_views(rng):
    X, _ = blobs(rng, 4, 3, 150, spread=3.0)
    model = fit_quietly(X, n_components=4, random_state=0, warm_start=True)
    first = model.lower_bound_
    assert "restart" in {r["kind"] for r in model.history_}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    kinds = [r["kind"] for r in model.history_]
    assert kinds[0] in ("joint", "marginal", "rotated") and "restart" not in kinds
    assert "move" not in kinds and kinds[-1] == "polish"
    assert model.lower_bound_ >= first - 1e-6
