"""Where a default fit spends its budget, record by record (docs/guide/budget.md, built by
matplotlib's plot directive; under a second).

A default ``BigLearnGaussianMixture(25)`` on grid25, started from the paper's random start (given
as ``means_init`` and friends, so that the first short run begins there): each ``history_``
record's joint mean log-likelihood, coloured by its kind. Marginal and rotated views score no
joint log-likelihood; they are marked at the bottom.
"""

import matplotlib.pyplot as plt
import numpy as np

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.datasets import make_grid25

SEED = 0
K = 25
X, _ = make_grid25(SEED)
gmm = BigLearnGaussianMixture(
    K, random_state=SEED, weights_init=np.full(K, 1 / K),
    means_init=np.random.default_rng([SEED, 1]).standard_normal((K, 2)),
    precisions_init=np.tile(np.eye(2), (K, 1, 1))).fit(X)

colours = {"restart": "tab:orange", "refine": "tab:green", "move": "tab:purple",
           "joint": "tab:blue", "marginal": "tab:cyan", "rotated": "tab:olive",
           "polish": "tab:red"}
known = [r["log_likelihood"] for r in gmm.history_ if r["log_likelihood"] is not None]
low, high = min(known), max(known)
bottom = low - 0.05 * (high - low)
fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
for kind, colour in colours.items():
    at = [(i, r["log_likelihood"]) for i, r in enumerate(gmm.history_) if r["kind"] == kind]
    if not at:
        continue
    x = [i for i, _ in at]
    y = [bottom if ll is None else ll for _, ll in at]
    marker = "|" if all(ll is None for _, ll in at) else "o"
    ax.plot(x, y, marker, ls="", ms=12 if marker == "|" else 7, mew=2, color=colour, label=kind)
ax.set(xlabel="history_ record", ylabel="joint mean log-likelihood",
       title=f"a default fit of grid25: {len(gmm.history_)} records, "
             f"{gmm.n_em_steps_} EM steps, n_iter_ = {gmm.n_iter_}")
ax.legend(ncol=2, fontsize="small", loc="center right")
