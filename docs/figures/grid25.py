"""grid25 from the paper's random start: plain EM against BigLearn-EM.

The figure of the README and of the user guide's algorithm page (docs/guide/algorithm.md, which
runs this file at build time through matplotlib's plot directive). Redraw the README's copy,
docs/figures/grid25.png, from the repository's root with

    python -c "exec(open('docs/figures/grid25.py').read()); plt.savefig('docs/figures/grid25.png')"

About 2 s on one core: BigLearn-EM runs 300 outer iterations here (the paper runs 2,000).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.datasets import grid25_params, make_grid25
from biglearn_em.metrics import gmm_log_density

SEED = 1
K = 25
X, _ = make_grid25(SEED)  # 2,000 training rows of 25 Gaussians on a 5 x 5 grid
# the paper's start: equal weights, means drawn from N(0, I), identity covariances
start = {
    "weights_init": np.full(K, 1 / K),
    "means_init": np.random.default_rng([SEED, 1]).standard_normal((K, 2)),
    "precisions_init": np.tile(np.eye(2), (K, 1, 1)),
}
# plain EM: joint steps only, no weight smoothing, stop on tol
em = BigLearnGaussianMixture(K, view_probs=(1, 0, 0), n_inner=1, weight_smoothing=0,
                             eig_floor=1e-5, tol=1e-6, random_state=SEED, **start)
# BigLearn-EM with the paper's settings (block rule, no restarts or moves), 300 outer iterations
biglearn = BigLearnGaussianMixture(
    K, update="block", view_probs=(0.4, 0.1, 0.5), weight_smoothing=1 / np.sqrt(K),
    eig_floor=1e-5, restarts=0, moves=0, patience=None, max_iter=300, random_state=SEED, **start)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    em.fit(X)
    biglearn.fit(X)
truth = gmm_log_density(X, *grid25_params()).mean()


def ellipses(ax, model, colour):
    """The two-standard-deviation ellipse of each component."""
    t = np.linspace(0, 2 * np.pi, 60)
    circle = np.stack([np.cos(t), np.sin(t)])
    for mu, cov in zip(model.means_, model.covariances_):
        vals, vecs = np.linalg.eigh(cov)
        edge = mu[:, None] + 2 * vecs @ (np.sqrt(vals)[:, None] * circle)
        ax.plot(*edge, color=colour, lw=1)


fig, axes = plt.subplots(1, 3, figsize=(12, 3.9), layout="constrained")
for ax, model, name, colour in ((axes[0], em, "EM", "tab:red"),
                                (axes[1], biglearn, "BigLearn-EM", "tab:blue")):
    ax.scatter(*X.T, s=2, color="0.6")
    ellipses(ax, model, colour)
    ax.set(title=f"{name}: train LL {model.score(X):.3f}", aspect="equal",
           xlim=(-6, 6), ylim=(-6, 6), xticks=[], yticks=[])

ax = axes[2]
ax.plot([r["log_likelihood"] for r in em.history_], color="tab:red", label="EM")
joint = [(i, r["log_likelihood"]) for i, r in enumerate(biglearn.history_)
         if r["kind"] == "joint"]
at, ll = np.array(joint).T
ax.plot(at, ll, ".", ms=3, color="tab:blue", label="BigLearn-EM, joint views")
ax.step(at, np.maximum.accumulate(ll), where="post", color="tab:blue", alpha=0.5,
        label="its best snapshot")
ax.axhline(truth, color="k", ls=":", label="the true mixture")
ax.set(xlabel="iteration", ylabel="mean training log-likelihood", ylim=(truth - 0.6, truth + 0.1),
       title="from the same random start")
ax.legend(loc="lower right", fontsize="small")
