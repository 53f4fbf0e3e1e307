"""
Conditional questions: regression, conditional densities, marginals
===================================================================

The law of some columns of a Gaussian mixture given the others is again a Gaussian
mixture, in closed form: the components are re-weighted by how well each explains the
given values, and each moves along its own regression line. A fitted model therefore
answers conditional questions without another fit:
:meth:`~biglearn_em.BigLearnGaussianMixture.condition` (the law of the other columns given
values of some), :meth:`~biglearn_em.BigLearnGaussianMixture.marginal` (the law of some
columns) and :class:`~biglearn_em.GaussianMixtureRegressor` (``E[y | x]`` and its spread,
as a scikit-learn regressor).

The data here are a noisy ring: for most x there are two likely values of y, one above and
one below. A regression answers with one number per x, the conditional mean, which lies
between the two, where hardly any data are; the conditional density shows both.
"""

# %%
# A ring, and a mixture of it
# ---------------------------
# :class:`~biglearn_em.GaussianMixtureRegressor` fits a mixture of the joint rows
# ``[x, y]``; that fitted mixture is its ``mixture_`` attribute, used below for the other
# questions.
import matplotlib.pyplot as plt
import numpy as np

from biglearn_em import GaussianMixtureRegressor

rng = np.random.default_rng(0)
angle = rng.uniform(0, 2 * np.pi, 1500)
radius = 2 + 0.15 * rng.standard_normal(1500)
x, y = radius * np.cos(angle), radius * np.sin(angle)

regressor = GaussianMixtureRegressor(n_components=12, random_state=0).fit(x[:, None], y)
joint = regressor.mixture_
print(f"a mixture of {joint.n_components} components of (x, y); "
      f"mean log-likelihood {joint.score(np.column_stack([x, y])):.3f}")

# %%
# The conditional mean against the conditional density
# ----------------------------------------------------
# Left: ``regressor.predict(x, return_std=True)``, the mean of y given x and the standard
# deviation of that conditional law, which is large wherever the law has two modes.
# Middle: the conditional density of y at three values of x, from
# ``joint.condition([0], [x0])``: a fitted one-dimensional mixture, whose
# ``score_samples`` gives its log-density. Right: the marginal law of x,
# ``joint.marginal([0])``, against a histogram of the data.
x_grid = np.linspace(-2.6, 2.6, 200)
mean, std = regressor.predict(x_grid[:, None], return_std=True)
y_grid = np.linspace(-3, 3, 300)

fig, (ax, cond, marg) = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
ax.scatter(x, y, s=2, color="0.7")
ax.plot(x_grid, mean, color="k", label="E[y | x]")
ax.fill_between(x_grid, mean - 2 * std, mean + 2 * std, color="tab:blue", alpha=0.2,
                label="+- 2 standard deviations")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend(loc="lower right", fontsize=8)
ax.set_title("GaussianMixtureRegressor")

for x0, color in zip((-1.5, 0.0, 1.0), ("tab:orange", "tab:green", "tab:purple")):
    given = joint.condition([0], [x0])
    density = np.exp(given.score_samples(y_grid[:, None]))
    cond.plot(y_grid, density, color=color, label=f"x = {x0}")
    ax.axvline(x0, color=color, linestyle=":", linewidth=1)
    m, s = regressor.predict([[x0]], return_std=True)
    print(f"x = {x0:4}: E[y | x] = {m[0]:+.3f}, standard deviation {s[0]:.3f}; "
          f"{given.n_components} components, weights above 0.05: "
          f"{np.round(given.weights_[given.weights_ > 0.05], 2)}")
cond.set_xlabel("y")
cond.set_ylabel("density of y given x")
cond.legend(fontsize=8)
cond.set_title("joint.condition([0], [x0])")

marginal = joint.marginal([0])
marg.hist(x, bins=40, density=True, color="0.8")
marg.plot(x_grid, np.exp(marginal.score_samples(x_grid[:, None])), color="k")
marg.set_xlabel("x")
marg.set_ylabel("density of x")
marg.set_title("joint.marginal([0])")
plt.show()
