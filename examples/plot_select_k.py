"""
Choosing K with the BIC curves
==============================

:func:`~biglearn_em.select_model` fits one model per number of components K and covariance
type, all from one seed, and chooses by BIC (the default), AIC or held-out log-likelihood.
Here the data come from a known mixture of four elongated clusters and a round one, so the
choice can be
checked against the truth.
"""

# %%
# Data from a known mixture
# -------------------------
# Five components in two dimensions, each with its own orientation and elongation, drawn
# with :func:`biglearn_em.datasets.sample_gmm`.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from biglearn_em import select_model
from biglearn_em.datasets import sample_gmm

rng = np.random.default_rng(0)
K_true = 5
angles = rng.uniform(0, np.pi, K_true)
rotations = np.array([[[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]] for a in angles])
scales = np.array([[1.0, 0.15], [0.8, 0.2], [0.6, 0.3], [1.2, 0.1], [0.5, 0.5]])
covariances = np.einsum("kij,kj,klj->kil", rotations, scales**2, rotations)
means = np.array([[-3.0, 2.0], [0.0, 3.0], [3.0, 1.0], [-1.0, -2.0], [2.5, -2.5]])
weights = np.array([0.3, 0.2, 0.2, 0.2, 0.1])
X, y = sample_gmm(rng, 1500, weights, means, covariances)

# %%
# One call, four covariance types, K = 1 to 10
# --------------------------------------------
# The default search is nested: within a covariance type each K starts from the K - 1
# solution cut in two where a split gains most, and from k-means++ starts shared by every
# type. ``table()`` lists every candidate, the chosen one marked ``*``.
found = select_model(X, n_components=range(1, 11),
                     covariance_types=("full", "tied", "diag", "spherical"), random_state=0)
print(found.describe_choice())
print(f"{len(found.candidates)} candidates, "
      f"{sum(c.fit_time for c in found.candidates):.1f} s of fits in all")
print(found.table())

# %%
# The BIC curves
# --------------
# BIC = -2 x (total log-likelihood) + (number of parameters) x log(N); lower is better.
# :meth:`~biglearn_em.ModelSelection.plot` draws one curve per covariance type and marks
# the choice (written here to a temporary PNG file and shown as it is). A curve falls while
# more components explain the data better than they cost, and rises once they only add
# parameters: the full curve has its minimum at the true K, since each elongated cluster is
# one full Gaussian. The other types need several components for one tilted, elongated
# cluster; their curves still fall at K = 10 and stay far above. (The figure's range is the
# chosen type's curve; a curve that left it would be clipped, and its legend entry would say
# so.)
with tempfile.TemporaryDirectory() as folder:
    image = plt.imread(found.plot(Path(folder) / "selection.png"))
height, width = image.shape[:2]
fig = plt.figure(figsize=(width / 100, height / 100))
ax = fig.add_axes((0, 0, 1, 1))
ax.imshow(image)
ax.set_axis_off()
plt.show()

# %%
# Near the minimum, and the model chosen
# --------------------------------------
# On the scale of the whole curve the minimum looks flat. The BIC of each full model
# minus the chosen one's (from :meth:`~biglearn_em.ModelSelection.to_rows`) shows by how
# much K = 5 wins: every extra component adds 6 parameters (a mean, a weight, a
# covariance), a penalty of 6 log(N) that the small gain in likelihood does not pay for.
# On the right, the chosen model's components as 2-sd ellipses over the data.
rows = [r for r in found.to_rows() if r["covariance_type"] == found.best_covariance_type]
ks = np.array([r["n_components"] for r in rows])
excess = np.array([r["bic"] for r in rows]) - found.best.bic
for k, e in zip(ks, excess):
    if k >= K_true - 1:
        print(f"K = {k:2d}: BIC {e:+9.2f} against the chosen model")

fig, (ax, scatter) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
near = ks >= K_true - 1
ax.bar(ks[near], excess[near], color=np.where(ks[near] == found.best_n_components, "k", "0.6"))
ax.plot(found.best_n_components, 0, "*", color="k", markersize=14, label="chosen")
ax.legend()
ax.set_xlabel("number of components K (full covariances)")
ax.set_ylabel("BIC minus the chosen model's")
ax.set_yscale("symlog", linthresh=10)
ax.grid(axis="y", alpha=0.3)

best = found.best_estimator_
scatter.scatter(X[:, 0], X[:, 1], s=3, c=best.predict(X), cmap="tab10")
t = np.linspace(0, 2 * np.pi, 100)
circle = np.stack([np.cos(t), np.sin(t)])
for mean, cov in zip(best.means_, best.covariances_):
    scatter.plot(*(mean[:, None] + 2 * np.linalg.cholesky(cov) @ circle), color="k",
                 linewidth=1)
scatter.set_aspect("equal")
scatter.set_title(f"the chosen model: K = {found.best_n_components}, "
                  f"{found.best_covariance_type}")
plt.show()
