"""Model selection (``biglearn_em.selection``) and ``biglearn-em select``."""

import csv
import importlib.util
import math
import sys

import numpy as np
import pytest
from sklearn.model_selection import KFold

from biglearn_em import BigLearnGaussianMixture, ModelSelection, load, select_model, selection
from biglearn_em.cli import main
from biglearn_em.commands.select import component_grid
from biglearn_em.datasets import load_faithful
from biglearn_em.selection import COLUMNS, Candidate
from conftest import blobs

#: A short fit: enough for separated blobs, fast enough for a grid.
FAST = {"max_iter": 30, "restarts": 2, "restart_iter": 10, "patience": 5, "moves": 1}
PNG = b"\x89PNG\r\n\x1a\n"
TRUE_K = 4
#: The grid tests fit "full" only; test_select_model_compares_all_covariance_types
#: covers the others.
COVARIANCE = ["full"]


@pytest.fixture(scope="module")
def data():
    """Four well-separated 2-D blobs of 80 points."""
    X, _ = blobs(np.random.default_rng(0), TRUE_K, 2, 80, spread=8.0)
    return X


def fit_alone(X, K, covariance_type, seed):
    return BigLearnGaussianMixture(n_components=K, covariance_type=covariance_type,
                                   random_state=seed, **FAST).fit(X)


def rows_without_time(found: ModelSelection):
    return [{k: v for k, v in row.items() if k != "fit_time"} for row in found.to_rows()]


# ------------------------------------------------------------------ choice
@pytest.mark.parametrize("covariance_type", COVARIANCE)
def test_bic_chooses_the_true_number_of_components(data, covariance_type):
    found = select_model(data, range(1, 8), (covariance_type,), random_state=0, **FAST)
    assert [c.n_components for c in found.candidates] == list(range(1, 8))
    assert found.best_n_components == TRUE_K
    assert found.best_covariance_type == covariance_type
    assert found.best_estimator_.n_components == TRUE_K
    bics = [c.bic for c in found.candidates]
    assert found.best.bic == min(bics)
    # the curve falls to the true K and rises after it
    assert bics[TRUE_K - 1] < bics[TRUE_K - 2] and bics[TRUE_K - 1] < bics[TRUE_K]


@pytest.mark.parametrize("covariance_type", COVARIANCE)
def test_criteria_are_the_estimators_own(data, covariance_type):
    found = select_model(data, [2, 4, 6], covariance_type, criterion="aic", random_state=7,
                         search="independent", **FAST)
    assert found.random_state == 7
    for c in found.candidates:
        alone = fit_alone(data, c.n_components, covariance_type, 7)
        assert c.bic == pytest.approx(alone.bic(data), rel=1e-10)
        assert c.aic == pytest.approx(alone.aic(data), rel=1e-10)
        assert c.train_log_likelihood == pytest.approx(alone.score(data), rel=1e-10)
        assert (c.n_iter, c.n_em_steps, c.converged) == (alone.n_iter_, alone.n_em_steps_,
                                                         alone.converged_)
        assert c.heldout_log_likelihood is None and c.error is None
    best = found.best_estimator_
    assert best.bic(data) == found.best.bic and best.aic(data) == found.best.aic
    assert found.best.aic == min(c.aic for c in found.candidates)
    assert best.get_params()["random_state"] == 7


def test_heldout_is_the_mean_of_kfold_scores(data):
    found = select_model(data, [1, 3, 4], cv=3, criterion="heldout", random_state=5,
                         search="independent", **FAST)
    folds = list(KFold(3, shuffle=True, random_state=5).split(data))
    for c in found.candidates:
        scores = [fit_alone(data[train], c.n_components, "full", 5).score(data[test])
                  for train, test in folds]
        assert c.heldout_folds == pytest.approx(scores, rel=1e-10)
        assert c.heldout_log_likelihood == pytest.approx(np.mean(scores), rel=1e-10)
        assert c.heldout_std_error == pytest.approx(np.std(scores, ddof=1) / np.sqrt(3),
                                                    rel=1e-8)
    lls = [c.heldout_log_likelihood for c in found.candidates]
    assert found.best.heldout_log_likelihood == max(lls)
    assert found.best_n_components == TRUE_K


def test_parallel_gives_the_table_of_one_job(data, capsys):
    one = select_model(data, range(2, 6), cv=2, n_jobs=1, random_state=3, **FAST)
    two = select_model(data, range(2, 6), cv=2, n_jobs=2, random_state=3, progress=True,
                       **FAST)
    assert rows_without_time(two) == rows_without_time(one)
    # the bar counts every fit: 4 candidates x (all data + 2 folds)
    bar = capsys.readouterr().err
    assert "selecting [" in bar and " 12/12 " in bar
    np.testing.assert_array_equal(two.best_estimator_.means_, one.best_estimator_.means_)


def test_a_drawn_seed_is_recorded_and_repeats_the_selection(data):
    rng = np.random.default_rng(11)
    first = select_model(data, [3, 4], random_state=rng, **FAST)
    again = select_model(data, [3, 4], random_state=first.random_state, **FAST)
    assert rows_without_time(again) == rows_without_time(first)
    # every candidate had the same seed
    assert {first.best_estimator_.random_state} == {first.random_state}


# ----------------------------------------------------------------- failures
def test_a_failing_fit_is_reported_in_its_row(data, monkeypatch):
    fit = BigLearnGaussianMixture.fit

    def failing(self, X, y=None, sample_weight=None):
        if self.n_components == 3:
            raise FloatingPointError("no positive definite covariance")
        return fit(self, X, y, sample_weight)

    monkeypatch.setattr(BigLearnGaussianMixture, "fit", failing)
    with pytest.warns(RuntimeWarning, match=r"1 of 3 candidates failed.*K=3"):
        found = select_model(data, [2, 3, 4], cv=2, random_state=0, search="independent",
                             **FAST)
    bad = found.candidates[1]
    assert bad.n_components == 3 and found.failed == (bad,)
    assert bad.error.startswith("all data: FloatingPointError: no positive definite")
    assert math.isnan(bad.bic) and math.isnan(bad.heldout_log_likelihood)
    assert found.best_n_components == TRUE_K
    assert "FloatingPointError" in found.table()

    with pytest.raises(RuntimeError, match=r"K=3, covariance_type='full' \(all data\) "
                                           r"failed: FloatingPointError"):
        select_model(data, [2, 3, 4], random_state=0, on_error="raise", search="independent",
                     **FAST)
    with pytest.raises(RuntimeError, match="no candidate could be chosen.*K=3.*"
                                           "FloatingPointError"):
        select_model(data, [3], random_state=0, search="independent", **FAST)


BAD = [
    ({"n_components": 0}, ValueError, r"'n_components' parameter of select_model"),
    ({"n_components": [2, 2.5]}, TypeError, r"'n_components'.*got 2\.5"),
    ({"n_components": []}, ValueError, r"'n_components'.*empty"),
    ({"n_components": "3"}, TypeError, r"'n_components'"),
    ({"n_components": [2, 10**6]}, ValueError, r"'n_components'.*at most the number of "
                                               r"samples, 320"),
    ({"n_components": [2, 200], "cv": 2}, ValueError, r"'n_components'.*at most 160.*'cv'"),
    ({"covariance_types": ("full", "banana")}, ValueError,
     r"'covariance_types'.*'full'.*got 'banana'"),
    ({"covariance_types": ()}, ValueError, r"'covariance_types'.*empty"),
    ({"covariance_types": [1]}, TypeError, r"'covariance_types'"),
    ({"criterion": "likelihood"}, ValueError, r"'criterion'.*'bic', 'aic', 'heldout'"),
    ({"criterion": "heldout"}, ValueError, r"'criterion'.*'heldout'.*'cv'"),
    ({"cv": 1}, ValueError, r"'cv'.*>= 2"),
    ({"cv": 2.5}, TypeError, r"'cv'"),
    ({"cv": 321}, ValueError, r"'cv'.*at most the number of samples"),
    ({"n_jobs": 0}, ValueError, r"'n_jobs'"),
    ({"n_jobs": "2"}, TypeError, r"'n_jobs'"),
    ({"random_state": -1}, ValueError, r"'random_state'"),
    ({"progress": "yes"}, TypeError, r"'progress'"),
    ({"on_error": "ignore"}, ValueError, r"'on_error'.*'report', 'raise'"),
    ({"search": "greedy"}, ValueError, r"^The 'search' parameter of select_model must be one "
                                       r"of 'nested', 'independent'; got 'greedy'\.$"),
    ({"covariance_type": "full"}, TypeError, r"'covariance_type'.*'covariance_types'"),
    ({"colour": "red"}, TypeError, r"unknown estimator parameter\(s\) \['colour'\]"),
    ({"max_iter": -1}, ValueError, r"'max_iter' parameter of BigLearnGaussianMixture"),
    ({"checkpoint": "fit.npz"}, ValueError, r"'checkpoint'.*must be None"),
]


@pytest.mark.parametrize("kwargs, error, match", BAD,
                         ids=[f"{'-'.join(map(str, k))}" for k, _, _ in BAD])
def test_bad_arguments_name_the_parameter(data, kwargs, error, match, monkeypatch):
    # refused before any fit starts
    monkeypatch.setattr(BigLearnGaussianMixture, "fit", None)
    kwargs = {"n_components": [2, 3], **kwargs}
    with pytest.raises(error, match=match):
        select_model(data, **kwargs)


def test_bad_data_is_refused(data):
    with pytest.raises(ValueError, match="infinity"):
        select_model(np.where(data > 5, np.inf, data), [2])
    with pytest.raises(ValueError, match="2D array"):
        select_model(data[:, 0], [2])


# ----------------------------------------------------------- nested search
TYPES = ("full", "tied", "diag", "spherical")


def train_lls(found: ModelSelection, ctype: str) -> list[float]:
    return [c.train_log_likelihood for c in found.candidates if c.covariance_type == ctype]


def test_nested_search_never_falls_as_k_grows_where_the_independent_one_does():
    X = load_faithful()
    # default fits from scratch: K = 8 ends below K = 7 (issue 22)
    alone = select_model(X, [7, 8], "full", random_state=0, search="independent")
    assert train_lls(alone, "full")[1] < train_lls(alone, "full")[0] - 1e-3
    found = select_model(X, range(1, 9), TYPES, random_state=0)
    assert found.search == "nested"
    for ctype in TYPES:
        lls = train_lls(found, ctype)
        assert all(b >= a - 1e-6 for a, b in zip(lls, lls[1:])), (ctype, lls)
    # and the full K = 8 beats the independent search's
    assert train_lls(found, "full")[7] > train_lls(alone, "full")[1]


def test_nested_search_equals_the_independent_one_on_a_known_mixture(data):
    grid = range(1, TRUE_K + 1)
    nested = select_model(data, grid, TYPES, random_state=0, **FAST)
    alone = select_model(data, grid, TYPES, random_state=0, search="independent", **FAST)
    for a, b in zip(alone.candidates, nested.candidates):
        assert (a.n_components, a.covariance_type) == (b.n_components, b.covariance_type)
        # the same optimum, each converged to tol = 1e-3 (the independent fit polishes
        # further: 2e-6 nats higher at K = 4, full)
        assert b.train_log_likelihood >= a.train_log_likelihood - 1e-4, b.label
    assert (nested.best_n_components, nested.best_covariance_type) == \
        (alone.best_n_components, alone.best_covariance_type)


def test_nested_rows_are_the_chosen_estimators_own(data):
    found = select_model(data, range(1, 7), ("full", "diag"), random_state=3, **FAST)
    best = found.best_estimator_
    assert (best.n_components, best.covariance_type) == (TRUE_K, found.best_covariance_type)
    assert best.get_params()["random_state"] == 3 and best.converged_
    assert best.score(data) == pytest.approx(found.best.train_log_likelihood, abs=1e-9)
    assert best.bic(data) == pytest.approx(found.best.bic, abs=1e-6)
    assert best.aic(data) == pytest.approx(found.best.aic, abs=1e-6)
    assert found.best.n_iter == best.n_iter_
    assert all(c.n_em_steps >= c.n_iter > 0 and c.converged for c in found.candidates)


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_a_k_below_the_one_before_falls_back_to_it(data, monkeypatch, K, covariance_type):
    """Every start at K made to end 1 nat below K - 1: K is K - 1 with a
    component duplicated (the same likelihood), and K + 1 grows from it."""
    duplicates = []
    duplicated, continued = selection._duplicated, selection._continued

    def recorded(params, be, settings):
        duplicates.append(duplicated(params, be, settings))
        return duplicates[-1]

    def worse(data_, start, settings):
        solution, steps = continued(data_, start, settings)
        if len(start.weights) == K and not any(start is d for d in duplicates):
            solution.ll -= 1.0
        return solution, steps

    monkeypatch.setattr(selection, "_duplicated", recorded)
    monkeypatch.setattr(selection, "_continued", worse)
    found = select_model(data, [K - 1, K, K + 1], covariance_type, random_state=0, **FAST)
    before, at, after = train_lls(found, covariance_type)
    assert len(duplicates) == 1
    # a K model of K - 1 components, one in two halves: K means, the type's covariances
    dup = duplicates[0]
    assert dup.means.shape == (K, data.shape[1])
    n_covs = 1 if covariance_type == "tied" else K
    assert len(dup.covs) == n_covs
    assert at == pytest.approx(before, abs=1e-9) and at >= before - 1e-9
    assert after > at + 0.05  # a blob more, found from the duplicate's K
    # the row's model is an estimator refitted from that start, which scores as its row
    assert all(c.error is None for c in found.candidates)
    best = found.best_estimator_
    row = found.best
    assert best.score(data) == pytest.approx(row.train_log_likelihood, abs=1e-6)


def test_nested_search_of_duplicated_rows_without_a_floor():
    # cuts of repeated rows are singular: every start is repaired as an M-step's
    X = np.repeat(np.random.default_rng(0).normal(size=(12, 3)), 8, axis=0)
    found = select_model(X, range(1, 8), random_state=0, eig_floor=0.0, **FAST)
    assert all(c.error is None for c in found.candidates)
    lls = train_lls(found, "full")
    assert all(b >= a - 1e-6 for a, b in zip(lls, lls[1:]))


def test_nested_search_with_missing_values_and_weights(data):
    X = data.copy()
    X[::7, 0] = np.nan
    weights = np.random.default_rng(0).integers(1, 4, len(X)).astype(float)
    found = select_model(X, range(1, 6), ("full", "spherical"), random_state=0,
                         sample_weight=weights, cv=2, **FAST)
    assert not found.failed and found.best_n_components == TRUE_K
    for ctype in ("full", "spherical"):
        lls = train_lls(found, ctype)
        assert all(np.isfinite(lls)) and all(b >= a - 1e-6 for a, b in zip(lls, lls[1:]))
    best = found.best_estimator_
    assert best.score(X, sample_weight=weights) == pytest.approx(
        found.best.train_log_likelihood, abs=1e-9)
    assert all(np.isfinite(c.heldout_log_likelihood) for c in found.candidates)


def test_a_tied_chain_continues_its_one_cut_and_its_best_seeds(data, monkeypatch):
    continued, grown = selection._continued, selection._grown
    calls: dict = {}

    def counting(data_, start, settings):
        K = len(start.weights)
        key = settings.covariance_type, K
        calls[key] = calls.get(key, 0) + 1
        return continued(data_, start, settings)

    def cut(data_, previous, settings, n_splits):
        out = grown(data_, previous, settings, n_splits)
        assert len(out) == (1 if settings.covariance_type == "tied" else
                            min(selection.NESTED_SPLITS, len(previous.weights)))
        return out

    monkeypatch.setattr(selection, "_continued", counting)
    monkeypatch.setattr(selection, "_grown", cut)
    select_model(data, [1, 2, 3, 4], ("tied", "full"), random_state=0, **FAST)
    for K in (2, 3, 4):  # the duplicate's continuation, when it is needed, is one more
        assert calls["tied", K] in (1 + selection.NESTED_TIED_SEEDS_CONTINUED,
                                    2 + selection.NESTED_TIED_SEEDS_CONTINUED)
        assert calls["full", K] in (selection.NESTED_CONTINUED, selection.NESTED_CONTINUED + 1)


def test_a_failing_step_of_a_nested_search_ends_its_chain(data, monkeypatch):
    grown = selection._grown

    def failing(data_, previous, settings, n_splits):
        if len(previous.weights) == 2 and settings.covariance_type == "full":
            raise FloatingPointError("no positive definite covariance")
        return grown(data_, previous, settings, n_splits)

    monkeypatch.setattr(selection, "_grown", failing)
    with pytest.warns(RuntimeWarning, match=r"3 of 8 candidates failed.*K=3"):
        found = select_model(data, [2, 3, 4, 5], ("full", "diag"), random_state=0, **FAST)
    errors = [c.error for c in found.candidates]
    # full's K = 2 and every diag row are found; full ends at K = 3
    assert errors[0] is None and errors[4:] == [None] * 4
    assert errors[1] == "all data: FloatingPointError: no positive definite covariance"
    for error in errors[2:4]:
        assert error.startswith("all data: not searched: an earlier K failed (Floating")
    assert all(math.isnan(c.bic) for c in found.candidates[1:4])
    assert (found.best_n_components, found.best_covariance_type) == (TRUE_K, "diag")
    with pytest.raises(RuntimeError, match=r"K=3, covariance_type='full' \(all data\) "
                                           r"failed: FloatingPointError"):
        select_model(data, [2, 3], random_state=0, on_error="raise", **FAST)


def test_select_command_runs_the_independent_search(csv_file, data, capsys, tmp_path):
    code, out, err = run(["select", csv_file, "-k", "3,4", "--seed", "2", "--search",
                          "independent", "--out", tmp_path / "sel", *CLI_FAST], capsys)
    assert code == 0, err
    assert "- search: independent" in (tmp_path / "sel" / "selection.md").read_text()
    model = load(tmp_path / "sel" / "model.npz")
    expected = select_model(data, [3, 4], random_state=2, search="independent",
                            **FAST).best_estimator_
    np.testing.assert_allclose(model.means_, expected.means_, rtol=1e-10)


# ------------------------------------------------------------ table, plot
def test_rows_table_and_csv(data, tmp_path):
    found = select_model(data, [2, 4], cv=2, random_state=0, **FAST)
    rows = found.to_rows()
    assert [list(r) for r in rows] == [list(COLUMNS)] * 2
    assert [r["chosen"] for r in rows] == [False, True]
    lines = found.table().splitlines()
    assert len(lines) == 2 + len(rows)
    assert "held-out LL" in lines[0] and "error" not in lines[0]
    # the work each fit did, which grows with K, not the outer iterations (about
    # the same for every K under the default patience)
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    steps = [int(line.strip("|").split("|")[header.index("EM steps")]) for line in lines[2:]]
    assert steps == [r["n_em_steps"] for r in rows] and all(s > 0 for s in steps)
    assert lines[3].startswith("| * | 4 | full |") and not lines[2].startswith("| * ")
    with open(found.to_csv(tmp_path / "s.csv")) as fh:
        read = list(csv.DictReader(fh))
    assert [float(r["bic"]) for r in read] == [r["bic"] for r in rows]
    assert [float(r["heldout_log_likelihood"]) for r in read] == \
        [r["heldout_log_likelihood"] for r in rows]
    assert [r["error"] for r in read] == ["", ""]


@pytest.mark.parametrize("cv", [None, 2])
def test_plot_writes_a_png(data, tmp_path, cv):
    found = select_model(data, [2, 3, 4], cv=cv, random_state=0, **FAST)
    path = found.plot(tmp_path / "curves.png")
    assert path.read_bytes()[:8] == PNG


def test_plot_without_matplotlib_says_how_to_install(data, monkeypatch):
    found = select_model(data, [2], random_state=0, **FAST)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"needs matplotlib: pip install matplotlib \(from a "
                                          r"biglearn-em clone: pip install -e '\.\[plot\]'\)"):
        found.plot("never.png")


def _selection(values, criterion="bic", chosen=("full", 4), std_error=0.0):
    """A ModelSelection of given criterion values (no fits): {type: [value per K = 2..]}."""
    candidates = []
    for ctype, curve in values.items():
        for K, v in enumerate(curve, start=2):
            candidates.append(Candidate(
                K, ctype, bic=v, aic=v, train_log_likelihood=-v,
                heldout_log_likelihood=v if criterion == "heldout" else None,
                heldout_std_error=std_error if criterion == "heldout" else None))
    best = next(i for i, c in enumerate(candidates)
                if (c.covariance_type, c.n_components) == chosen)
    return ModelSelection(tuple(candidates), criterion, 2 if criterion == "heldout" else None,
                          0, 500, 3, {}, best, None)


def _curves(ax):
    """The data lines of the axes by label (the chosen star and the K marker left out)."""
    return {line.get_label(): line for line in ax.lines
            if line.get_label()[:1] != "_" and not line.get_label().startswith("chosen")}


def test_figure_plots_the_criterion_one_line_per_type_and_the_best_type_sets_the_range():
    pytest.importorskip("matplotlib")
    # full decides (BIC 400 at K = 4) within a range of 100; spherical is thousands worse
    found = _selection({"full": [500, 430, 400, 420], "diag": [520, 470, 450, 445],
                        "spherical": [9000, 7000, 6000, 5500]})
    fig = found.figure()
    [ax] = fig.axes
    curves = _curves(ax)
    # one line per type (BIC only: no AIC lines), each in its own colour
    assert sorted(curves) == ["diag (partly off the plot)", "full",
                              "spherical (off the plot; best 5500 at K = 5)"]
    assert len({line.get_color() for line in curves.values()}) == 3
    low, high = ax.get_ylim()
    assert low < 400 and high > 500  # the chosen type's whole curve
    assert high < 600  # not stretched to spherical's thousands
    assert (high - low) < 1.2 * (500 - 400)
    # the choice is marked where it is
    star = next(line for line in ax.lines if line.get_label().startswith("chosen"))
    assert star.get_label() == "chosen: K = 4, full"
    assert list(star.get_xdata()) == [4] and list(star.get_ydata()) == [400]
    # one title, on the axes; none above the figure
    assert "BIC" in ax.get_title() and "chosen K = 4, full" in ax.get_title()
    assert fig._suptitle is None
    assert ax.get_ylabel() == "BIC (lower is better)"


def test_figure_of_aic_and_of_held_out_scores():
    pytest.importorskip("matplotlib")
    found = _selection({"full": [500, 430, 400, 420]}, criterion="aic")
    ax = found.figure().axes[0]
    assert list(_curves(ax)) == ["full"] and ax.get_ylabel() == "AIC (lower is better)"
    # held-out: higher is better; the error bars of the chosen type are in the range
    found = _selection({"full": [-3.0, -2.5, -2.4, -2.45], "spherical": [-9, -8, -7, -6]},
                       criterion="heldout", chosen=("full", 4), std_error=0.05)
    ax = found.figure().axes[0]
    low, high = ax.get_ylim()
    assert low < -3.05 and high > -2.35 and low > -3.5
    assert "spherical (off the plot; best -6 at K = 5)" in [
        t.get_text() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------- other types
def test_select_model_compares_all_covariance_types():
    """Needs the estimator's covariance types: spherical data in 5 dimensions, where
    the spherical model has the fewest parameters and the same likelihood."""
    X, _ = blobs(np.random.default_rng(1), 3, 5, 100, spread=8.0)
    types = ("full", "diag", "spherical", "tied")
    found = select_model(X, [2, 3, 4], types, random_state=0, search="independent", **FAST)
    assert [(c.covariance_type, c.n_components) for c in found.candidates] == \
        [(t, K) for t in types for K in (2, 3, 4)]
    for c in found.candidates:
        alone = fit_alone(X, c.n_components, c.covariance_type, 0)
        assert c.bic == pytest.approx(alone.bic(X), rel=1e-10)
    assert (found.best_n_components, found.best_covariance_type) == (3, "spherical")
    assert found.best_estimator_.covariance_type == "spherical"


# ---------------------------------------------------------------- command
@pytest.fixture
def csv_file(tmp_path, data):
    path = tmp_path / "d.csv"
    lines = ["u,v"] + [f"{a!r},{b!r}" for a, b in data.tolist()]
    path.write_text("\n".join(lines) + "\n")
    return path


CLI_FAST = ["--max-iter", "30", "--restarts", "2", "--restart-iter", "10", "--patience", "5",
            "--moves", "1"]


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_select_command_writes_the_four_files(tmp_path, csv_file, data, capsys):
    out_dir = tmp_path / "sel"
    code, out, err = run(["select", csv_file, "-k", "2:6", "--cv", "2", "--seed", "4",
                          "--out", out_dir, *CLI_FAST], capsys)
    assert code == 0, err
    assert "320 samples x 2 features (u, v)" in out
    assert f"chosen: K = {TRUE_K}, covariance_type 'full'" in out
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "model.npz", "selection.csv", "selection.md", "selection.png"]
    with open(out_dir / "selection.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["n_components"]) for r in rows] == [2, 3, 4, 5, 6]
    assert [r["chosen"] for r in rows].count("True") == 1
    report = (out_dir / "selection.md").read_text()
    assert "| * | 4 | full |" in report and "seed (every fit and the folds): 4" in report
    assert "max_iter=30" in report
    assert "![BIC against K, one line per covariance type](selection.png)" in report
    assert (out_dir / "selection.png").read_bytes()[:8] == PNG

    # the model is the one select_model chooses, readable by info and predict
    model = load(out_dir / "model.npz")
    expected = select_model(data, range(2, 7), cv=2, random_state=4, **FAST).best_estimator_
    np.testing.assert_allclose(model.means_, expected.means_, rtol=1e-10)
    assert list(model.feature_names_in_) == ["u", "v"]
    code, out, err = run(["info", out_dir / "model.npz"], capsys)
    assert code == 0, err
    assert f"components: {TRUE_K}; features: 2" in out and "feature names: u, v" in out
    code, out, err = run(["predict", out_dir / "model.npz", csv_file], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "label" and len(out.splitlines()) == 1 + len(data)


def test_select_command_without_matplotlib_says_how_to_get_the_figure(
        tmp_path, csv_file, capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    code, out, err = run(["select", csv_file, "-k", "2:3", "--out", tmp_path / "sel",
                          *CLI_FAST], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "sel").iterdir()) == [
        "model.npz", "selection.csv", "selection.md"]
    how = "pip install matplotlib (from a biglearn-em clone: pip install -e '.[plot]')"
    assert how in out and how in (tmp_path / "sel" / "selection.md").read_text()


def test_select_command_without_out_prints_the_table(csv_file, capsys):
    code, out, err = run(["select", csv_file, "-k", "3,4", "-q", *CLI_FAST], capsys)
    assert code == 0, err
    assert "| * | 4 | full |" in out and "nothing written (use --out DIR)" in out
    assert "(drawn; --seed" in out


def test_component_grid():
    assert component_grid("2:5") == [2, 3, 4, 5]
    assert component_grid("2:10:4") == [2, 6, 10]
    assert component_grid("7") == [7]
    assert component_grid("9, 1,2:3") == [1, 2, 3, 9]


@pytest.mark.parametrize("value", ["5:2", "0:3", "a", "2:", "1:2:3:4", "2:6:0", "", "2,,3",
                                   "-1"])
def test_select_command_refuses_a_bad_grid(csv_file, capsys, value):
    with pytest.raises(SystemExit) as exc:
        main(["select", str(csv_file), "-k", value])
    assert exc.value.code == 2
    assert "expected K values >= 1 as A:B (inclusive), A:B:STEP" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--covariance-types", "full,banana"], "expected a comma list of covariance types"),
    (["--cv", "1"], "expected a number of folds >= 2"),
    (["--jobs", "0"], "expected a number of jobs >= 1, or -1"),
    (["--seed", "-3"], "expected a seed"),
    (["--criterion", "nll"], "invalid choice"),
    (["--search", "greedy"], "invalid choice"),
])
def test_select_command_refuses_bad_options(csv_file, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["select", str(csv_file), "-k", "2:3", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_select_command_errors_are_one_line(csv_file, tmp_path, capsys):
    code, out, err = run(["select", csv_file, "-k", "2:3", "--criterion", "heldout"], capsys)
    assert code == 2 and err.startswith("biglearn-em: error: --criterion heldout") \
        and "--cv N" in err
    code, out, err = run(["select", csv_file, "-k", "2:400"], capsys)
    assert code == 2 and "'n_components'" in err and "320" in err
    code, out, err = run(["select", tmp_path / "missing.csv", "-k", "2:3"], capsys)
    assert code == 2 and "missing.csv" in err


def test_a_fold_whose_training_rows_never_observe_a_column(data):
    # column 2 is observed in 4 rows only: with cv=2 a fold's training rows may
    # miss it entirely; the fold keeps the units of all of X and is still scored
    rng = np.random.default_rng(0)
    X = np.column_stack([data[:60], rng.normal(size=60)])
    X[4:, 2] = np.nan
    found = select_model(X, [1, 2], ["diag"], cv=2, random_state=0, **FAST)
    assert all(c.error is None for c in found.candidates)
    assert all(np.isfinite(c.heldout_log_likelihood) for c in found.candidates)
