"""
The hard-mixture suite in figures
=================================

:doc:`/hard_mixtures` asks, on mixtures built so that k-means starts fail (five families of
them) and on the paper's grids from its bad start, which method finds the optimum at the same
time budget. Its tables are the measurements (made with
``biglearn-em reproduce hard``, which takes minutes); this page reads them from that page's
Markdown source when the site is built and draws three of them, so that the figures and the
tables cannot disagree. Nothing is fitted here. Run from a clone of the repository, the
script finds ``docs/hard_mixtures.md`` above its working directory.
"""

# %%
# Reading the tables
# ------------------
# A table is a run of lines starting with ``|``; each is found by the section it sits in
# and by its header, so that a table moved or reworded on the page stops this example with
# an error instead of drawing something else.
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def find_page(name="hard_mixtures.md"):
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "docs" / name).is_file():
            return folder / "docs" / name
    raise FileNotFoundError(f"docs/{name} not found above {Path.cwd()}: run this example "
                            "from a clone of the repository")


def tables(text):
    """(section heading, header cells, rows of cells) of every Markdown table."""
    found, section, block = [], None, []
    for line in text.splitlines() + [""]:
        if line.startswith("## "):
            section = line[3:].strip()
        if line.strip().startswith("|"):
            block.append([c.strip().replace("**", "") for c in line.strip()[1:-1].split("|")])
            continue
        if block:
            found.append((section, block[0], block[2:]))  # block[1] is the |---| line
            block = []
    return found


def table(all_tables, section, *header_words):
    """The one table of ``section`` whose header holds every word in ``header_words``."""
    hits = [(header, rows) for s, header, rows in all_tables
            if s.startswith(section) and all(any(w in h for h in header) for w in header_words)]
    if len(hits) != 1:
        raise ValueError(f"expected one table under {section!r} with {header_words}, "
                         f"found {len(hits)}: has docs/hard_mixtures.md changed?")
    return hits[0]


def numbers(cell):
    """The numbers of a cell: '16/16' -> [16, 16], '0.019 (3/16)' -> [0.019, 3, 16]."""
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", cell)]


page = find_page()
all_tables = tables(page.read_text(encoding="utf-8"))
print(f"{len(all_tables)} tables in {page.name}")

# %%
# The defaults against restarts at equal time
# -------------------------------------------
# The page's summary of the defaults with the budget that follows the data (both seed
# sets): for
# each family, how many of its 16 data sets each method brings within 0.01 nats per test
# sample of the optimum, and head to head against scikit-learn's restarts given the same
# time, how many data sets the default fit does better, the same (within 0.005) or worse.
# The restart methods get the default fit's measured time, so they run as many restarts as
# fit in it.
header, rows = table(all_tables, "Answer in short", "family", "mean time")
rows = [r for r in rows if not r[0].startswith(("the suite", "all"))]  # the totals
families = [r[0] for r in rows]
methods = header[1:4]
solved = np.array([[numbers(r[i])[0] for i in range(1, 4)] for r in rows])
out_of = np.array([numbers(r[1])[1] for r in rows])
versus = np.array([numbers(r[header.index(next(h for h in header
                                                if h.startswith("vs scikit")))])
                   for r in rows])
seconds = [numbers(r[header.index("mean time")])[0] for r in rows]
print("families:", families)

fig, (ax, h2h) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
y = np.arange(len(families))
for j, method in enumerate(methods):
    ax.barh(y + (j - 1) * 0.27, solved[:, j], height=0.27, label=method)
ax.set_yticks(y, [f"{f}\n({s:.2f} s a fit)" for f, s in zip(families, seconds)])
ax.invert_yaxis()
ax.set_xlim(0, out_of.max())
ax.set_xlabel(f"data sets within 0.01 of the optimum (of {out_of.max():.0f})")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8)
ax.set_title("data sets solved, per family")
left = np.zeros(len(families))
for j, (name, color) in enumerate(zip(("better", "tied", "worse"),
                                      ("tab:green", "0.75", "tab:red"))):
    h2h.barh(y, versus[:, j], left=left, color=color, label=name)
    left += versus[:, j]
h2h.set_yticks(y, families)
h2h.invert_yaxis()
h2h.set_xlabel("data sets")
h2h.set_title("the default fit against scikit-learn's restarts, head to head")
h2h.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8)
plt.show()

# %%
# What each part of the fit strategy contributed
# ----------------------------------------------
# The default fit is a strategy: short EM runs from its own start and from k-means++
# starts, EM to convergence from the best, split-and-merge moves, then BigLearn-EM's views.
# The page's table "What each lever contributed" measured settings of that strategy on the
# 40 tuning data sets; each bar is one setting, labelled with its mean time per fit.
header, rows = table(all_tables, "What each lever contributed", "setting", "within 0.01")
within = header.index("within 0.01")
timed = header.index("mean time")
settings = [r[0].replace("`", "") for r in rows]
counts = np.array([numbers(r[within]) for r in rows])
fig, ax = plt.subplots(figsize=(11, 0.38 * len(rows) + 1.2), layout="constrained")
y = np.arange(len(rows))
is_default = ["(the defaults)" in s for s in settings]
ax.barh(y, counts[:, 0], color=["tab:blue" if d else "0.6" for d in is_default])
for yi, (count, row) in enumerate(zip(counts, rows)):
    ax.text(count[0] + 0.3, yi, row[timed], va="center", fontsize=8)
ax.set_yticks(y, settings, fontsize=8)
ax.invert_yaxis()
ax.set_xlim(0, counts[0, 1] + 4)
ax.set_xlabel(f"data sets within 0.01 of the optimum (of {counts[0, 1]:.0f}); "
              "the label is the mean time per fit")
ax.set_title("settings of the fit strategy on the tuning seeds (the defaults in blue)")
plt.show()

# %%
# Per start: what the views themselves do
# ---------------------------------------
# The equal-time tables mix two things: how good an optimiser BigLearn-EM is and how cheap
# a restart is. The page's table "Per start" separates the first: plain EM and BigLearn-EM
# (the views, no restarts or moves) from the same k-means start on each data set. Where
# plain EM stays stuck on thin, multi-scale and high-dimensional mixtures, the views get
# out from most starts; the grid and the unequal weights are where they do not (there the
# restarts and the moves do the repair).
header, rows = table(all_tables, "Per start", "family", "plain EM")
families = [r[0] for r in rows]
em = np.array([numbers(r[1]) for r in rows])  # mean gap, within, of
views = np.array([numbers(r[2]) for r in rows])
fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
y = np.arange(len(rows))
ax.barh(y - 0.2, em[:, 1], height=0.4, color="0.5", label=header[1])
ax.barh(y + 0.2, views[:, 1], height=0.4, color="tab:blue", label=header[2])
ax.set_yticks(y, families)
ax.invert_yaxis()
ax.set_xlim(0, em[:, 2].max())
ax.set_xlabel(f"starts within 0.01 of the optimum (of {em[:, 2].max():.0f})")
ax.set_title("per start: plain EM against BigLearn-EM from the same start")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8)
plt.show()
