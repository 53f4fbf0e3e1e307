"""
Fitting a Dask array
====================

A row-chunked :class:`dask.array.Array` is fitted where Dask keeps its blocks: each pass
over the data is one Dask graph in which every block computes its sufficient statistics,
and only the totals (about K x D x D numbers) reach this process, which does the M-step. The same
seed gives the same model as the in-memory fit of the same values. This page uses Dask's
default scheduler (threads in this process); what changes for a cluster is said at the end.
It needs the ``dask`` extra (``pip install -e ".[dask]"``).
"""

# %%
# The same data in memory and in blocks
# -------------------------------------
# 60,000 rows of a six-component mixture in three dimensions, split into six blocks of
# 10,000 rows (a block is what one task holds; real data would be read block by block from
# Zarr or Parquet files, see the Dask guide, docs/guide/dask.md).
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.datasets import sample_gmm

rng = np.random.default_rng(0)
K, D = 6, 3
means = rng.uniform(-6, 6, (K, D))
covariances = np.array([np.diag(rng.uniform(0.2, 1.5, D)) for _ in range(K)])
X, y = sample_gmm(rng, 60_000, np.full(K, 1 / K), means, covariances)
X_dask = da.from_array(X, chunks=(10_000, D))
print(X_dask)

# %%
# Two fits, one seed
# ------------------
# With the default ``search_rows="auto"`` the restarts, moves and views run on a subsample
# of max(20,000, 50 K D) rows gathered into this process; the refinement and the polish make
# one pass over all blocks per EM step. The fitted arrays are NumPy arrays either way.
in_memory = BigLearnGaussianMixture(K, random_state=0).fit(X)
on_blocks = BigLearnGaussianMixture(K, random_state=0).fit(X_dask)
print("largest difference of the means:", np.abs(on_blocks.means_ - in_memory.means_).max())
print("mean log-likelihood, in memory / on blocks:",
      f"{in_memory.lower_bound_:.8f} / {on_blocks.lower_bound_:.8f}")

# %%
# Lazy predictions
# ----------------
# ``predict``, ``predict_proba`` and ``score_samples`` of a dask array return dask arrays:
# nothing is computed until asked for, and then block by block. Here the cluster sizes of
# each block are computed on the blocks themselves (``map_blocks``), which is how results
# of data larger than memory are summarised without gathering them.
labels = on_blocks.predict(X_dask)
print(type(labels).__name__, labels.shape, labels.chunks)
counts = labels.map_blocks(lambda b: np.bincount(b, minlength=K)[None, :], new_axis=1,
                           chunks=(1, K), dtype=np.int64)
counts = counts.compute()
sample = np.random.default_rng(1).choice(len(X), 4000, replace=False)

fig, (ax, blocks) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
ax.scatter(X[sample, 0], X[sample, 1], s=3, c=labels[sample].compute(), cmap="tab10",
           vmin=0, vmax=9)
ax.scatter(on_blocks.means_[:, 0], on_blocks.means_[:, 1], marker="X", s=120, color="k")
ax.set_xlabel("feature 0")
ax.set_ylabel("feature 1")
ax.set_title("4,000 of the rows, coloured by their lazy labels")
bottom = np.zeros(len(counts))
for k in range(K):
    blocks.bar(np.arange(len(counts)), counts[:, k], bottom=bottom,
               color=plt.cm.tab10(k), label=f"component {k}")
    bottom += counts[:, k]
blocks.set_xlabel("block of 10,000 rows")
blocks.set_ylabel("rows")
blocks.set_title("cluster sizes, computed per block")
blocks.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
plt.show()

# %%
# On a cluster
# ------------
# The same code runs on a ``distributed`` cluster once a ``Client`` is active. A
# ``LocalCluster`` starts worker *processes*, and those import the script again: in a
# script the work must sit under an ``if __name__ == "__main__":`` guard (a notebook or the
# REPL needs none)::
#
#     from distributed import Client, LocalCluster
#
#     if __name__ == "__main__":
#         client = Client(LocalCluster(n_workers=4, threads_per_worker=1))
#         model = BigLearnGaussianMixture(6, random_state=0).fit(X_dask)
#
# ``LocalCluster(processes=False)`` keeps the workers as threads of this process, which
# needs no guard. This page keeps Dask's default threaded scheduler, the cheapest.
