"""
What a fit did, view by view
============================

Every fit keeps a record of what it did in ``history_``: one dict per short EM run, refinement
step, split-and-merge move, outer iteration (a view) and polish step, with its ``kind``, the
view size ``m`` and the joint mean log-likelihood where the step computed it. A ``callback``
receives each record while the fit runs, and ``verbose=2`` prints them. This page draws the
records of fits on the paper's grid25 data from the paper's bad start (see
:ref:`sphx_glr_auto_examples_plot_grid25_bad_start.py`): a default fit, and the paper's
algorithm next to plain EM.
"""

# %%
# A default fit, record by record
# -------------------------------
# The callback below stamps each record with the time it arrived, which shows where the
# fit spent its time (measured on the machine that built this page, one run).
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from sklearn.exceptions import ConvergenceWarning

from biglearn_em.datasets import GRID25_SEEDS, make_grid25
from biglearn_em.experiments import grid25

seed = GRID25_SEEDS[0]
X, _ = make_grid25(seed)

arrivals = []


def stamp(record):
    arrivals.append((time.perf_counter(), record))


model = grid25.defaults(seed).set_params(callback=stamp, verbose=2, verbose_interval=1)
started = time.perf_counter()
model.fit(X)

# %%
# The printed lines are the records: the short run from the given start ends far below the
# others (it stops at its ``restart_iter`` steps while still climbing, towards the local
# optimum plain EM finds from this start), the k-means++ restarts agree on a better
# one and stop early, the refinement runs EM to convergence from the best run, and the views
# (in two dimensions every marginal or rotated view is one-dimensional; ``m=0`` is a skipped
# view) stop after ``patience`` outer iterations without a better joint score (under
# "auto": 10 once the restarts agreed, and at least twice what the last improvement took),
# before the polish. Only joint steps compute the
# joint log-likelihood; the views' records have none.
kinds = [r["kind"] for r in model.history_]
colors = {"restart": "tab:purple", "refine": "tab:brown", "move": "tab:pink",
          "joint": "tab:blue", "marginal": "tab:orange", "rotated": "tab:green",
          "polish": "tab:red"}
fig, (ax, bar) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained",
                              gridspec_kw={"width_ratios": [2, 1]})
lls = [r["log_likelihood"] for r in model.history_]
low = min(ll for ll in lls if ll is not None)
for i, (kind, ll) in enumerate(zip(kinds, lls)):
    if ll is None:  # a view without a joint score: a tick on the floor of the plot
        ax.scatter(i, low - 0.02, marker="|", s=200, color=colors[kind])
    else:
        ax.scatter(i, ll, s=30, color=colors[kind])
for kind in dict.fromkeys(kinds):
    ax.scatter([], [], color=colors[kind], label=kind)
ax.set_xlabel("record of history_ (in order)")
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.set_ylabel("joint mean log-likelihood")
ax.set_title("a default fit from the paper's start")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)

# seconds per phase: from the previous record's arrival (or the start) to this one's
seconds = {}
previous = started
for when, record in arrivals:
    phase = "views" if record["kind"] in ("joint", "marginal", "rotated") else record["kind"]
    seconds[phase] = seconds.get(phase, 0.0) + when - previous
    previous = when
bar.barh(list(seconds), list(seconds.values()), color="0.5")
bar.invert_yaxis()
bar.set_xlabel("seconds (this build machine, one run)")
bar.set_title("where the time went")
plt.show()

# %%
# The paper's algorithm against plain EM
# --------------------------------------
# The paper's BigLearn-EM (no restarts, no moves; 5 EM steps per view, views joint /
# marginal / rotated with probabilities 0.4 / 0.1 / 0.5) here for 300 outer iterations
# (the paper runs 2,000), and plain EM, both from the same start. The x-axis counts EM
# steps, so the two curves are drawn at equal cost. Plain EM climbs fast and stops on its
# plateau; BigLearn-EM's joint log-likelihood falls back now and then (a view's update
# need not raise the joint likelihood) but keeps finding higher ground. The fit returns the
# best joint snapshot, polished with EM.
paper = grid25.biglearn(seed, max_iter=300)
em = grid25.plain_em(seed)
with warnings.catch_warnings():  # the paper's run stops at max_iter by design
    warnings.simplefilter("ignore", ConvergenceWarning)
    paper.fit(X)
    em.fit(X)
print(f"plain EM:    {em.n_em_steps_} EM steps, final log-likelihood {em.score(X):.4f}")
print(f"BigLearn-EM: {paper.n_em_steps_} EM steps, final log-likelihood {paper.score(X):.4f}")

steps_per_view = paper.n_inner
fig, (top, strip) = plt.subplots(2, 1, figsize=(12, 5), sharex=True, layout="constrained",
                                 gridspec_kw={"height_ratios": [4, 1]})
top.plot(np.arange(1, len(em.lower_bounds_) + 1), em.lower_bounds_, color="k",
         label="plain EM")
views = [r for r in paper.history_ if r["kind"] in ("joint", "marginal", "rotated")]
joint = [(r["iteration"] * steps_per_view, r["log_likelihood"]) for r in views
         if r["kind"] == "joint"]
top.plot(*zip(*joint), ".", color=colors["joint"], markersize=4,
         label="BigLearn-EM, at its joint views")
top.axhline(paper.score(X), color=colors["polish"], linestyle="--", linewidth=1,
            label="BigLearn-EM, the model returned")
top.set_ylim(-4.5, None)  # plain EM's first steps start far lower
top.set_ylabel("joint mean log-likelihood")
top.legend(loc="lower right")
top.grid(alpha=0.3)
for row, kind in enumerate(("joint", "marginal", "rotated")):
    at = [r["iteration"] * steps_per_view for r in views if r["kind"] == kind]
    strip.scatter(at, np.full(len(at), row), marker="|", s=60, color=colors[kind])
strip.set_yticks(range(3), ["joint", "marginal", "rotated"])
strip.set_ylim(-0.7, 2.7)
strip.set_xlabel(f"EM steps (BigLearn-EM: {steps_per_view} per outer iteration)")
strip.set_title("the view drawn at each outer iteration", fontsize=9)
plt.show()
