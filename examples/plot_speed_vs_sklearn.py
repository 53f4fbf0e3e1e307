"""
Speed against scikit-learn, measured here
=========================================

What a user compares: a default fit of :class:`~biglearn_em.BigLearnGaussianMixture`
against :class:`sklearn.mixture.GaussianMixture` with its k-means start, once
(``n_init=1``) and with ten starts (``n_init=10``), on one small data set: the paper's
grid25 training set (2,000 points, K = 25). The times below are measured while this page is
built, one run each, on whatever machine builds it, beside whatever else runs there: they
show orders of magnitude, not a benchmark. ``benchmarks/small_data.py`` in the repository
makes the repeated measurement (best of several runs, one BLAS thread, Old Faithful).
"""

# %%
# Three fits, timed once
# ----------------------
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.mixture import GaussianMixture

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.datasets import GRID25_SEEDS, make_grid25

X, X_test = make_grid25(GRID25_SEEDS[0])
K = 25
models = {
    "biglearn-em defaults": BigLearnGaussianMixture(K, random_state=0),
    "scikit-learn n_init=1": GaussianMixture(K, random_state=0),
    "scikit-learn n_init=10": GaussianMixture(K, n_init=10, random_state=0),
}
seconds, train_ll, test_ll = {}, {}, {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X)
    seconds[name] = time.perf_counter() - start
    train_ll[name], test_ll[name] = model.score(X), model.score(X_test)
    print(f"{name:24s} {seconds[name]:6.2f} s   training log-likelihood {train_ll[name]:.5f}"
          f"   test {test_ll[name]:.5f}")

# %%
# Time and likelihood
# -------------------
# Left, the wall time of each fit. Right, how far each fit's mean log-likelihood per
# point (training and test) lies below the best of the three, in nats: a k-means start
# alone can leave scikit-learn's EM in a worse local optimum, which its restarts repair
# at the cost of ten fits; the default fit spends its budget on short runs from several
# starts and split-and-merge moves instead.
names = list(models)
fig, (ax, gap) = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
y = np.arange(len(names))
ax.barh(y, [seconds[n] for n in names], color=["tab:blue", "0.6", "0.4"])
for yi, n in enumerate(names):
    ax.text(seconds[n], yi, f" {seconds[n]:.2f} s", va="center", fontsize=9)
ax.set_yticks(y, names)
ax.invert_yaxis()
ax.set_xlabel("seconds (one run, the machine that built this page)")
ax.set_xlim(0, 1.25 * max(seconds.values()))
for offset, (label, ll) in zip((-0.2, 0.2), (("training", train_ll), ("test", test_ll))):
    best = max(ll.values())
    gaps = [best - ll[n] for n in names]
    gap.barh(y + offset, gaps, height=0.4, label=label,
             color="tab:orange" if label == "training" else "tab:green")
    for yi, value in zip(y, gaps):  # a zero gap (the best) has no bar to see: its value does
        gap.text(value, yi + offset, " best" if value == 0 else f" {value:.3f}",
                 va="center", fontsize=8)
gap.set_yticks(y, names)
gap.invert_yaxis()
gap.set_xlim(0, 1.3 * max(max(train_ll.values()) - min(train_ll.values()),
                          max(test_ll.values()) - min(test_ll.values()), 1e-3))
gap.set_xlabel("mean log-likelihood below the best of the three (nats)")
gap.legend()
plt.show()
