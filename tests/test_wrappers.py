"""The scikit-learn wrappers: ``GaussianMixtureImputer`` and
``GaussianMixtureRegressor`` pass scikit-learn's estimator checks and answer
with the conditional laws of their mixture."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import biglearn_em
from biglearn_em import BigLearnGaussianMixture, GaussianMixtureImputer, GaussianMixtureRegressor

#: No restarts or moves: the checks fit hundreds of small models.
QUICK = {"restarts": 0, "moves": 0}

ESTIMATORS = [
    GaussianMixtureImputer(),
    GaussianMixtureImputer(n_components=2, covariance_type="diag", sample_posterior=True,
                           max_iter=20, mixture_params=QUICK),
    GaussianMixtureRegressor(),
    GaussianMixtureRegressor(n_components=2, covariance_type="tied", max_iter=20,
                             mixture_params=QUICK),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def correlated(rng, n: int) -> np.ndarray:
    """Two clusters along lines in 3 dimensions, apart in every column: any
    observed column tells the cluster, and then the others up to the noise."""
    t = rng.normal(size=n)
    side = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    X = np.column_stack([t + 3 * side, 2 * t + 5 * side, 3 * side - t])
    return X + 0.1 * rng.normal(size=X.shape)


# -------------------------------------------------------------------- imputer
def test_imputer_fits_the_incomplete_rows_and_fills_the_gaps(rng):
    X = correlated(rng, 400)
    holes = rng.random(X.shape) < 0.2
    holes[holes.all(1), 0] = False
    X_missing = np.where(holes, np.nan, X)
    imputer = GaussianMixtureImputer(2, random_state=0).fit(X_missing)
    alone = BigLearnGaussianMixture(2, random_state=0).fit(X_missing)
    np.testing.assert_array_equal(imputer.mixture_.means_, alone.means_)
    filled = imputer.transform(X_missing)
    np.testing.assert_array_equal(filled, alone.impute(X_missing))
    np.testing.assert_array_equal(filled[~holes], X[~holes])
    # the conditional means beat the column means by far on these lines
    mean_filled = SimpleImputer().fit_transform(X_missing)
    assert np.mean((filled - X)[holes] ** 2) < 0.05 * np.mean((mean_filled - X)[holes] ** 2)


def test_imputer_draws(rng):
    X = correlated(rng, 300)
    X_missing = X.copy()
    X_missing[::3, 1] = np.nan
    drawn = GaussianMixtureImputer(2, sample_posterior=True, random_state=0).fit(X_missing)
    first = drawn.transform(X_missing)
    np.testing.assert_array_equal(drawn.transform(X_missing), first)  # an int seed repeats
    other = GaussianMixtureImputer(2, sample_posterior=True, random_state=1).fit(X_missing)
    assert not np.array_equal(other.transform(X_missing)[::3, 1], first[::3, 1])
    means = GaussianMixtureImputer(2, random_state=0).fit(X_missing).transform(X_missing)
    # draws scatter about the means by about the noise left given the other columns
    spread = np.std(first[::3, 1] - means[::3, 1])
    assert 0.05 < spread < 1.0


def test_imputer_in_a_pipeline(rng):
    X = correlated(rng, 300)
    y = X @ np.array([1.0, -0.5, 2.0])
    X[rng.random(X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(1), 2] = 0.0
    model = make_pipeline(GaussianMixtureImputer(2, random_state=0), LinearRegression())
    assert model.fit(X, y).score(X, y) > 0.95


@pytest.mark.parametrize("make, X, message", [
    (lambda: GaussianMixtureImputer(), np.array([[1.0, np.nan], [np.nan, np.nan], [3.0, 4.0]]),
     r"^X has 1 row with no observed value"),
    (lambda: GaussianMixtureImputer(), np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.nan]]),
     r"^X's column\(s\) \[1\] are never observed"),
    (lambda: GaussianMixtureImputer(mixture_params={"n_components": 2}), np.ones((5, 2)),
     r"^mixture_params sets \['n_components'\], which are parameters of GaussianMixtureImputer"),
    (lambda: GaussianMixtureImputer(mixture_params={"shrink": 2}), np.ones((5, 2)),
     r"Invalid parameter 'shrink'"),
    (lambda: GaussianMixtureImputer(), np.array([[1.0, np.inf], [2.0, 3.0], [3.0, 4.0]]),
     r"X contains infinity"),
])
def test_imputer_fit_errors(make, X, message):
    with pytest.raises(ValueError, match=message):
        make().fit(X)


def test_imputer_transform_needs_an_observed_value_per_row(rng):
    imputer = GaussianMixtureImputer().fit(rng.normal(size=(20, 2)))
    with pytest.raises(ValueError, match=r"^X has 1 row with no observed value \(rows \[1\]\)"):
        imputer.transform([[0.0, np.nan], [np.nan, np.nan]])


def test_mixture_params_reach_the_mixture(rng):
    imputer = GaussianMixtureImputer(2, mixture_params={"restarts": 0, "update": "block"})
    imputer.fit(correlated(rng, 100))
    assert (imputer.mixture_.restarts, imputer.mixture_.update) == (0, "block")
    assert imputer.n_iter_ == imputer.mixture_.n_iter_ >= 1


# ------------------------------------------------------------------ regressor
def test_one_component_is_least_squares(rng):
    """The conditional mean of one Gaussian fitted by maximum likelihood is the
    least-squares line, and its variance the mean squared residual."""
    X = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + rng.normal(size=200)
    model = GaussianMixtureRegressor(eig_floor=0.0).fit(X, y)
    ols = LinearRegression().fit(X, y)
    X_new = rng.normal(size=(30, 3))
    mean, std = model.predict(X_new, return_std=True)
    np.testing.assert_allclose(mean, ols.predict(X_new), rtol=0, atol=1e-8)
    residual = np.sqrt(np.mean((y - ols.predict(X)) ** 2))
    np.testing.assert_allclose(std, residual, rtol=1e-8)


def test_regressor_follows_a_curve(rng):
    x = rng.uniform(-3, 3, (600, 1))
    y = np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=600)
    x_test = np.linspace(-2.5, 2.5, 50)[:, None]
    model = GaussianMixtureRegressor(8, random_state=0).fit(x, y)
    assert model.score(x_test, np.sin(2 * x_test[:, 0])) > 0.9
    assert LinearRegression().fit(x, y).score(x_test, np.sin(2 * x_test[:, 0])) < 0.3


@pytest.mark.parametrize("targets", [None, 1, 2])
def test_regressor_predicts_the_conditional_mixture(rng, targets):
    X = rng.normal(size=(300, 2))
    Y = np.column_stack([X[:, 0] * X[:, 1], np.abs(X[:, 0]) - X[:, 1]])
    y = Y[:, 0] if targets is None else Y[:, :targets]
    model = GaussianMixtureRegressor(3, random_state=0).fit(X, y)
    X_new = rng.normal(size=(6, 2))
    mean, std = model.predict(X_new, return_std=True)
    assert mean.shape == std.shape == ((6,) if targets is None else (6, targets))
    np.testing.assert_array_equal(model.predict(X_new), mean)
    # each row against the fitted mixture's condition: the mixture's mean, and the
    # diagonal of its covariance by the law of total variance
    for row, m, s in zip(X_new, mean.reshape(6, -1), std.reshape(6, -1)):
        law = model.mixture_.condition([0, 1], row)
        covs = law.covariances_
        b = law.means_.shape[1]
        covs = covs.reshape(len(law.weights_), b, b) if covs.ndim == 3 else covs
        spread = law.means_ - law.weights_ @ law.means_
        variance = law.weights_ @ (np.diagonal(covs, axis1=1, axis2=2) + spread**2)
        np.testing.assert_allclose(m, law.weights_ @ law.means_, rtol=0, atol=1e-10)
        np.testing.assert_allclose(s, np.sqrt(variance), rtol=0, atol=1e-10)


def test_imports_without_docstrings():
    # python -OO strips docstrings (cls.__doc__ is None): the wrappers' shared
    # parameter text is then left out, and the package still imports
    env = {**os.environ, "PYTHONPATH": str(Path(biglearn_em.__file__).parents[1])}
    result = subprocess.run([sys.executable, "-OO", "-c", "import biglearn_em.wrappers"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
