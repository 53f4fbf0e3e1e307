"""
Covariance types side by side
=============================

``covariance_type`` says what shape a component may take, as in scikit-learn: ``"full"``
(each component its own covariance matrix), ``"tied"`` (one matrix shared by all),
``"diag"`` (each its own variances along the axes) and ``"spherical"`` (each one variance).
Fewer parameters cost less per EM step and need fewer data, but a type that cannot take the
clusters' shapes pays in likelihood, or in components. Here four fits with K = 4 on data
whose four clusters have four different shapes.
"""

# %%
# Four clusters, four shapes
# --------------------------
# A round cluster, one stretched along the x-axis, one tilted at 45 degrees and a broad
# one, drawn with :func:`biglearn_em.datasets.sample_gmm`; a test set from the same mixture
# scores the fits.
import matplotlib.pyplot as plt
import numpy as np

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.datasets import sample_gmm
from biglearn_em.engine import covariance_type

rng = np.random.default_rng(1)
tilt = np.array([[1.0, 0.9], [0.9, 1.0]])
covariances = np.array([0.15 * np.eye(2), np.diag([1.5, 0.05]), 0.6 * tilt,
                        np.diag([1.2, 1.2])])
means = np.array([[-3.0, 2.5], [1.0, 3.5], [-2.0, -2.5], [3.0, -1.0]])
weights = np.full(4, 0.25)
X, _ = sample_gmm(rng, 1200, weights, means, covariances)
X_test, _ = sample_gmm(rng, 5000, weights, means, covariances)

# %%
# One fit per type
# ----------------
# The fitted ``covariances_`` keep scikit-learn's shapes: (K, D, D) full, (D, D) tied,
# (K, D) diag, (K,) spherical. Each is expanded to K full matrices for drawing.
types = ("full", "tied", "diag", "spherical")
fits = {t: BigLearnGaussianMixture(4, covariance_type=t, random_state=0).fit(X) for t in types}


def full_matrices(model):
    """K full matrices from ``covariances_``: the engine's covariance type reads scikit-learn's
    shape back into its own storage and expands that."""
    kind = covariance_type(model.covariance_type)
    return kind.dense(kind.stored(model.covariances_), *model.means_.shape)


for t, model in fits.items():
    print(f"{t:9s} covariances_ {str(model.covariances_.shape):10s} BIC {model.bic(X):8.1f}  "
          f"test log-likelihood {model.score(X_test):.3f}")

# %%
# What each type can draw
# -----------------------
# Each component as its 1- and 2-sd ellipses over the training data. Full covariances
# take every shape; a tied matrix must suit all four clusters at once; diagonal ones cannot
# tilt, so the tilted cluster becomes an axis-aligned ellipse (here nearly a circle, its two
# variances being about equal); spherical ones are circles.
# The test log-likelihood in each title (higher is better) measures the cost of each
# restriction on these data.
t = np.linspace(0, 2 * np.pi, 100)
circle = np.stack([np.cos(t), np.sin(t)])
fig, axes = plt.subplots(1, 4, figsize=(16, 4.4), sharex=True, sharey=True,
                         layout="constrained")
for ax, (name, model) in zip(axes, fits.items()):
    ax.scatter(X[:, 0], X[:, 1], s=2, c=model.predict(X), cmap="tab10", vmin=0, vmax=9)
    for mean, cov in zip(model.means_, full_matrices(model)):
        for r in (1, 2):
            ellipse = mean[:, None] + r * np.linalg.cholesky(cov) @ circle
            ax.plot(*ellipse, color="k", linewidth=1 if r == 2 else 0.6)
    ax.set_title(f"{name}\nBIC {model.bic(X):.0f}, test LL {model.score(X_test):.3f}",
                 fontsize=10)
    ax.set_aspect("equal")
plt.show()
