"""``biglearn-em reproduce missing``: the removal mechanisms, the target's
verdict, and the quick run end to end (about 20 s on one core): its report,
figures and CSV files, and that its numbers say what a mixture fitted on
incomplete data should do better than mean imputation."""

import argparse
import csv

import numpy as np
import pytest

from biglearn_em.cli import main as cli_main
from biglearn_em.experiments import missing


# ------------------------------------------------------------------ removal
def test_mcar_removes_the_rate_of_entries_everywhere_alike():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 5))
    gaps = np.isnan(missing.remove_mcar(rng, X, 0.3))
    assert abs(gaps.mean() - 0.3) < 0.01
    # every column alike, and unrelated to the values
    assert np.all(np.abs(gaps.mean(axis=0) - 0.3) < 0.02)
    high = X[:, 0] > 0
    assert abs(gaps[high, 1:].mean() - gaps[~high, 1:].mean()) < 0.02


def test_mar_keeps_column_0_and_removes_more_where_it_is_high():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 4))
    X[:, 0] = 5 + 3 * X[:, 0]  # the chance follows column 0 standardised, not its units
    removed = missing.remove_mar(rng, X, 0.3)
    gaps = np.isnan(removed)
    assert not gaps[:, 0].any()
    np.testing.assert_array_equal(removed[~gaps], X[~gaps])
    assert abs(gaps.mean() - 0.3) < 0.01  # of all entries, column 0 included
    order = np.argsort(X[:, 0])
    low, high = gaps[order[:5000], 1:].mean(), gaps[order[-5000:], 1:].mean()
    assert high > 0.7 and low < 0.15
    with pytest.raises(ValueError, match="would lose"):
        missing.remove_mar(rng, X, 0.8)  # 107% of the other columns' entries


def test_remove_drops_the_rows_left_empty_and_says_which_it_kept():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(4000, 4))
    out, kept = missing.remove("MCAR", np.random.default_rng(3), X, 0.5)
    # about 0.5 ** 4 of the rows lose everything
    assert 0.04 < 1 - len(kept) / len(X) < 0.09
    assert not np.isnan(out).all(axis=1).any()
    observed = ~np.isnan(out)
    np.testing.assert_array_equal(out[observed], X[kept][observed])
    again, kept_again = missing.remove("MCAR", np.random.default_rng(3), X, 0.5)
    np.testing.assert_array_equal(again, out)  # the seed fixes the removal
    np.testing.assert_array_equal(kept_again, kept)


def test_known_mixtures_have_at_least_four_features_and_their_truth_beats_noise():
    for name in ("known-d6", "known-d8"):
        X_train, X_test, truth_ll = missing.DATASETS[name].load(0)
        assert X_train.shape[1] >= 4 and X_test.shape[1] == X_train.shape[1]
        # the truth explains its own test data better than one Gaussian of its moments
        from biglearn_em.metrics import gmm_log_density

        cov = np.cov(X_train.T)[None]
        single = gmm_log_density(X_test, np.ones(1), X_train.mean(0)[None], cov).mean()
        assert truth_ll > single


def test_the_options_parse_and_refuse_clearly():
    parser = argparse.ArgumentParser()
    missing.add_arguments(parser)
    args = parser.parse_args(["--datasets", "iris,known-d6", "--rates", "0.3,0.1,0.3"])
    assert args.datasets == ("iris", "known-d6") and args.rates == (0.1, 0.3)
    assert parser.parse_args(["--datasets", "all"]).datasets == tuple(missing.DATASETS)
    for bad in (["--datasets", "mnist"], ["--rates", "0.3,1.5"], ["--rates", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def _row(method, ll, dataset="known-d6", mechanism="MCAR", rate=0.3):
    return missing.Row(dataset, mechanism, rate, 0, method, ll, np.nan, 0.0, rate, 0)


def test_the_target_holds_only_within_the_gap_and_above_every_baseline():
    def verdict(ours, complete, baselines):
        rows = [_row(missing.COMPLETE, complete, mechanism="none", rate=0.0),
                _row(missing.OURS, ours)]
        rows += [_row(m, ll) for m, ll in zip(missing.BASELINES, baselines)]
        (target,) = missing.targets(rows, ["known-d6"])
        return target.holds

    assert verdict(-7.04, -7.0, (-7.5, -8.0, -7.9))
    assert not verdict(-7.06, -7.0, (-7.5, -8.0, -7.9))  # gap 0.06
    assert not verdict(-7.02, -7.0, (-7.5, -7.01, -7.9))  # a baseline above ours
    assert verdict(-7.02, -7.0, (np.nan, -8.0, -7.9))  # listwise deletion could not fit
    # no 30% MCAR row: no verdict at all
    assert missing.targets([_row(missing.OURS, -7.0, rate=0.1)], ["known-d6"]) == []


# ------------------------------------------------------------------ quick run
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("missing")
    # through the CLI: the experiment is registered under `reproduce`
    assert cli_main(["reproduce", "missing", "--quick", "--out", str(out)]) == 0
    return out


def _csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_quick_run_writes_the_report_tables_and_figures(quick_run):
    report = (quick_run / "report.md").read_text()
    for title in ("## Target", "## Held-out complete-data log-likelihood",
                  "## Imputation RMSE", "## Regression", "## Data sets", "## Settings"):
        assert title in report
    for name in missing.QUICK_DATASETS:
        assert f"| {name} | MCAR | 30% |" in report and f"| {name} | MAR | 10% |" in report
    for figure in ("heldout_ll.png", "imputation_rmse.png", "regression_rmse.png"):
        assert (quick_run / figure).stat().st_size > 10_000 and f"({figure})" in report
    # every table row has as many cells as its header (no stray '|' in a name)
    for line in report.splitlines():
        if line.startswith("| data set |"):
            width = line.count("|")
        elif line.startswith("| ") and "known-d6" in line:
            assert line.count("|") == width


@pytest.mark.slow
def test_quick_run_ours_beats_mean_imputation_on_the_known_mixture(quick_run):
    rows = [r for r in _csv(quick_run / "results.csv") if r["dataset"] == "known-d6"]

    def value(method, field, mechanism="MCAR", rate="0.3"):
        (row,) = [r for r in rows if (r["method"], r["mechanism"], r["rate"])
                  == (method, mechanism, rate)]
        return float(row[field])

    complete = float(next(r["test_ll"] for r in rows if r["method"] == missing.COMPLETE))
    for mechanism in missing.MECHANISMS:
        ours = value(missing.OURS, "test_ll", mechanism)
        # measured in the quick run: ours about -7.01, mean imputation about -8.5
        assert ours > value(missing.MEAN, "test_ll", mechanism) + 0.5
        assert ours > value(missing.ITERATIVE, "test_ll", mechanism) + 0.5
        # the complete data know more: ours is below their fit, but not far (measured 0.14)
        assert complete - 0.3 < ours < complete + 0.02
        # the mixture's conditional means fill better than column means (0.87 against 1.03)
        assert value(missing.OURS, "rmse", mechanism) < value(missing.MEAN, "rmse",
                                                              mechanism) - 0.05
    # more removed, more lost
    assert value(missing.OURS, "test_ll", rate="0.1") > value(missing.OURS, "test_ll")
    for r in rows:
        assert float(r["removed"]) == pytest.approx(float(r["rate"]), abs=0.03)


@pytest.mark.slow
def test_quick_run_target_line_and_regression_come_from_the_results(quick_run):
    rows = _csv(quick_run / "results.csv")
    report = (quick_run / "report.md").read_text()
    line = next(t for t in report.splitlines() if t.startswith("- known-d6, 30% MCAR:"))
    ours = float(next(r["test_ll"] for r in rows if (r["dataset"], r["method"], r["mechanism"],
                                                     r["rate"]) == ("known-d6", missing.OURS,
                                                                    "MCAR", "0.3")))
    assert f"{missing.OURS} {ours:.4f}" in line
    assert ("HOLDS" in line) != ("FAILS" in line)
    reg = _csv(quick_run / "regression.csv")
    assert {r["method"] for r in reg} == set(missing.REGRESSORS)
    for name in missing.QUICK_DATASETS:
        for rate in ("0.0", "0.3"):
            err = {r["method"]: float(r["rmse"]) for r in reg
                   if (r["dataset"], r["rate"]) == (name, rate)}
            # the last column is predictable from the others: far below predicting its mean
            assert err[missing.REG_OURS] < 0.85 * err["mean of y"]


def test_a_rate_missing_at_random_cannot_reach_is_refused_before_any_fit(tmp_path, capsys,
                                                                          monkeypatch):
    monkeypatch.setattr(missing, "run", None)  # no fit may start
    code = cli_main(["reproduce", "missing", "--datasets", "iris", "--rates", "0.3,0.8",
                     "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert "--rates: 0.8 is too high for iris (D = 4)" in err and "at most 0.75" in err
