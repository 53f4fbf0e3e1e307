"""The three kinds of view of one model, on grid25 (docs/guide/algorithm.md, built by
matplotlib's plot directive; well under a second).

A view is a matrix P with orthonormal rows: the data seen through it are X P.T, and the mixture
seen through it is (weights, means P.T, P covariances P.T), exactly the law of X P.T under the
model. Here the model is plain EM's local optimum from the paper's random start (the left panel
of grid25.py's figure); each panel shows what one step on that view would fit.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.datasets import make_grid25

SEED = 1
K = 25
X, _ = make_grid25(SEED)
model = BigLearnGaussianMixture(
    K, view_probs=(1, 0, 0), n_inner=1, weight_smoothing=0, eig_floor=1e-5, tol=1e-6,
    weights_init=np.full(K, 1 / K),
    means_init=np.random.default_rng([SEED, 1]).standard_normal((K, 2)),
    precisions_init=np.tile(np.eye(2), (K, 1, 1)), random_state=SEED).fit(X)  # plain EM

angle = 2.0  # a rotated view of 2-D data: one row of a rotation
views = {"joint view: P = I": None,
         "marginal view: P = [1, 0]": np.array([1.0, 0.0]),
         f"rotated view: P = [cos {angle}, sin {angle}]": np.array([np.cos(angle), np.sin(angle)])}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained",
                         gridspec_kw={"width_ratios": [1, 1.4, 1.4]})
for ax, (name, p) in zip(axes, views.items()):
    if p is None:
        ax.scatter(*X.T, s=2, color="0.6")
        t = np.linspace(0, 2 * np.pi, 60)
        for mu, cov in zip(model.means_, model.covariances_):
            vals, vecs = np.linalg.eigh(cov)
            edge = mu[:, None] + 2 * vecs @ (np.sqrt(vals)[:, None] * [np.cos(t), np.sin(t)])
            ax.plot(*edge, color="tab:red", lw=1)
        ax.set(aspect="equal", xlim=(-6, 6), ylim=(-6, 6), xticks=[], yticks=[])
    else:
        y = X @ p                                                    # the data seen through P
        means = model.means_ @ p                                     # means P.T
        sds = np.sqrt(np.einsum("i,kij,j->k", p, model.covariances_, p))  # P covariances P.T
        grid = np.linspace(y.min() - 1, y.max() + 1, 400)
        ax.hist(y, bins=80, density=True, color="0.75", label="X P.T")
        ax.plot(grid, model.weights_ @ norm.pdf(grid, means[:, None], sds[:, None]),
                color="tab:red", label="the model through P")
        ax.set(yticks=[])
        ax.legend(loc="upper right", fontsize="small")
    ax.set_title(name)
