"""
Density and clusters of Old Faithful
====================================

Old Faithful's 272 eruptions (R's ``datasets::faithful``, shipped with the package and read
by :func:`biglearn_em.datasets.load_faithful`): the eruption time and the waiting time to
the next eruption, both in minutes. Short eruptions are followed by short waits and long
ones by long waits, so the points fall into two groups, and the long group is not round. A
mixture gives a density of these data and a clustering with a degree of confidence per
point; the model is chosen by BIC, saved to a file and read back.
"""

# %%
# Choosing the model
# ------------------
# :func:`~biglearn_em.select_model` over K = 1 to 6 and the four covariance types, by BIC.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import biglearn_em
from biglearn_em import select_model
from biglearn_em.datasets import load_faithful

X = load_faithful()
found = select_model(X, n_components=range(1, 7),
                     covariance_types=("full", "tied", "diag", "spherical"), random_state=0)
print(found.describe_choice())
model = found.best_estimator_
print("weights", np.round(model.weights_, 3))
print("means (eruption min, waiting min)\n", np.round(model.means_, 2))

# %%
# The means show where the components sit: the short eruptions get one, and the long
# group, which is neither round nor aligned with the axes, is covered by the rest.

# %%
# Density contours and clusters
# -----------------------------
# Left: the fitted density as contours of the log-density
# (:meth:`~biglearn_em.BigLearnGaussianMixture.score_samples` on a grid) and the
# components' means. Right: each eruption coloured by its most probable component
# (:meth:`~biglearn_em.BigLearnGaussianMixture.predict`); the hollow rings mark the
# eruptions whose most probable component has a posterior probability below 0.9
# (:meth:`~biglearn_em.BigLearnGaussianMixture.predict_proba`), the points a clustering
# would assign with little confidence.
ex, wt = np.meshgrid(np.linspace(1.2, 5.6, 200), np.linspace(38, 100, 200))
log_density = model.score_samples(np.column_stack([ex.ravel(), wt.ravel()]))
proba = model.predict_proba(X)
labels = proba.argmax(axis=1)
unsure = proba.max(axis=1) < 0.9
print(f"{unsure.sum()} of {len(X)} eruptions have no component with probability >= 0.9")

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True, layout="constrained")
top = np.ceil(log_density.max())
levels = np.arange(top - 9, top + 0.1, 0.75)
contours = left.contourf(ex, wt, log_density.reshape(ex.shape), levels=levels,
                         cmap="Blues", extend="min")
fig.colorbar(contours, ax=left, label="log-density")
left.scatter(X[:, 0], X[:, 1], s=6, color="k")
left.scatter(model.means_[:, 0], model.means_[:, 1], s=120, marker="X", color="tab:red")
left.set_title("fitted density")
right.scatter(X[:, 0], X[:, 1], s=12, c=labels, cmap="tab10", vmin=0, vmax=9)
right.scatter(X[unsure, 0], X[unsure, 1], s=90, facecolors="none", edgecolors="k",
              linewidths=0.8, label="max posterior < 0.9")
right.set_title(f"clusters (K = {found.best_n_components}, {found.best_covariance_type})")
right.legend(loc="lower right")
for ax in (left, right):
    ax.set_xlabel("eruption time (min)")
left.set_ylabel("waiting time to the next eruption (min)")
plt.show()

# %%
# Saving and loading the model
# ----------------------------
# :meth:`~biglearn_em.BigLearnGaussianMixture.save` writes an ``.npz`` archive with JSON
# metadata (no pickle); :func:`biglearn_em.load` reads it back into a fitted estimator that
# gives exactly the same answers.
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "faithful.npz"
    model.save(path)
    loaded = biglearn_em.load(path)
print("same clusters:", np.array_equal(loaded.predict(X), model.predict(X)))
print("same log-densities:", np.array_equal(loaded.score_samples(X), model.score_samples(X)))
