"""
Missing values: fitting with gaps and filling them
==================================================

NaN in X marks a missing value. ``fit`` runs EM under values missing at random: each row is
explained by its observed coordinates, and the gaps enter the M-step through their
conditional means and covariances, without filling them first. The fitted mixture then
fills the gaps with :meth:`~biglearn_em.BigLearnGaussianMixture.impute`, with each gap's
conditional mean given its row, or with a draw from that conditional law.
:class:`~biglearn_em.GaussianMixtureImputer` does both as a scikit-learn transformer.
"""

# %%
# Data with about a fifth of the entries missing
# ----------------------------------------------
# Three elongated clusters in two dimensions, two of them tilted; each entry goes missing
# with probability 0.25, independently of everything (missing completely at random), except
# that every row keeps one observed value (so fewer than a quarter go missing in the end).
import matplotlib.pyplot as plt
import numpy as np

from biglearn_em import BigLearnGaussianMixture, GaussianMixtureImputer
from biglearn_em.datasets import sample_gmm

rng = np.random.default_rng(0)
means = np.array([[-3.0, -2.0], [0.0, 2.0], [3.5, -1.0]])
covariances = np.array([[[1.0, 0.8], [0.8, 1.0]], [[1.5, -0.6], [-0.6, 0.5]],
                        [[0.3, 0.0], [0.0, 1.5]]])
X, _ = sample_gmm(rng, 1200, np.full(3, 1 / 3), means, covariances)
gaps = rng.random(X.shape) < 0.25
gaps[gaps.all(axis=1), rng.integers(0, 2)] = False  # keep one value of every row
X_gaps = np.where(gaps, np.nan, X)
print(f"{gaps.sum()} of {X.size} entries missing; {gaps.any(axis=1).sum()} rows have a gap")

# %%
# Fit with the gaps, then fill them
# ---------------------------------
# Three ways to fill: each column's mean (what a plain ``SimpleImputer`` does), the
# mixture's conditional mean given the row's observed value, and one draw from the
# conditional law (``random_state`` given: a multiple imputation repeats this with other
# seeds). The root mean square error against the values that were removed measures each.
model = BigLearnGaussianMixture(3, random_state=0).fit(X_gaps)
fills = {
    "column means": np.where(gaps, np.nanmean(X_gaps, axis=0), X_gaps),
    "conditional means (impute)": model.impute(X_gaps),
    "one draw (impute, random_state=1)": model.impute(X_gaps, random_state=1),
}
for name, filled in fills.items():
    rmse = np.sqrt(np.mean((filled[gaps] - X[gaps]) ** 2))
    print(f"{name:35s} RMSE of the filled values {rmse:.3f}")

# the same as a transformer, e.g. as the first step of a pipeline
imputer = GaussianMixtureImputer(n_components=3, random_state=0).fit(X_gaps)
print("imputer == impute:", np.allclose(imputer.transform(X_gaps), fills[
    "conditional means (impute)"]))

# %%
# Where the filled rows land
# --------------------------
# Complete rows in grey; rows that had a gap in colour, at their filled position (orange:
# y was missing, blue: x was missing). Column means put every such row on one of two lines
# through the middle of the data. Conditional means put each on one of two curves,
# ``E[missing | observed]``, which follows each cluster's regression line and bends from one
# cluster to the next where the observed value could belong to either: close on average
# (the smallest error above), but without the spread of the data. A draw restores the
# spread, at a larger error per value, which is what a multiple imputation needs to carry
# the uncertainty of the gaps into later estimates.
complete = ~gaps.any(axis=1)
fig, axes = plt.subplots(1, 4, figsize=(16, 4.2), sharex=True, sharey=True,
                         layout="constrained")
panels = {"the removed values (truth)": X, **fills}
for ax, (name, filled) in zip(axes, panels.items()):
    ax.scatter(X[complete, 0], X[complete, 1], s=2, color="0.8")
    for column, color in ((1, "tab:orange"), (0, "tab:blue")):
        rows = gaps[:, column]
        ax.scatter(filled[rows, 0], filled[rows, 1], s=4, color=color,
                   label=f"{'y' if column == 1 else 'x'} was missing")
    ax.set_title(name, fontsize=10)
axes[0].legend(loc="upper left", fontsize=8, markerscale=3)
plt.show()
