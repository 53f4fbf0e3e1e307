"""The Dask backend: data that stay on Dask's workers, in row blocks.

A fit on a row-chunked ``dask.array.Array`` runs the same EM loop as every
other backend (:mod:`biglearn_em.engine.loop`). The loop sees the data through
:meth:`Backend.reduce <biglearn_em.backends.base.Backend.reduce>`: each pass is one Dask
graph in which every block of rows becomes an in-process
:class:`biglearn_em.engine.data.Data` on a worker and runs the in-process NumPy kernels (the
very functions an in-memory fit runs on its one part); the parts' results
(sufficient statistics, ``K (m + m^2 + 1)`` numbers each) are added up in a
tree, and only the total reaches the client, which does the M-step and
the write-back. The view and the whitened parameters of a pass travel as one
key of its graph, so each worker receives them once per pass.

The parameters, the views and every small array stay NumPy on the client:
this backend is the NumPy backend with the data elsewhere. Rows reach the
client only when asked for by index (:meth:`DaskBackend.take`: the search
subsample of a large fit, an initialisation sample), and whole blocks only
where an algorithm needs rows in order on the host (the cuts of the
split-and-merge moves, when they run on all rows; see docs/design.md).

Whichever scheduler is active computes the graphs: Dask's threads by
default, or a ``distributed.Client`` (a ``LocalCluster`` or a real cluster).
A worker lost in the middle of a pass costs its blocks' recomputation
(Dask's own fault tolerance); the pass's result does not change.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from .numpy import NumpyBackend

DASK_MISSING = ("install it with pip install 'dask[array]' distributed (from a biglearn-em "
                "clone: pip install -e '.[dask]')")


def _on_block(block, weights, shared: tuple) -> Any:
    """``fn`` on one block of rows (on a worker): the block becomes a part of
    the data in process, a copy of the pass's ``template`` (the data without
    their rows: their map into internal coordinates, their chunk size) on the
    NumPy backend. The template carries the data's own class, so that this
    backend needs nothing from the engine that defines it."""
    fn, template, args = shared
    return fn(replace(template, X=np.asarray(block),
                      weights=None if weights is None else np.asarray(weights)), *args)


def _combine(parts: list, combine: Callable) -> Any:
    return functools.reduce(combine, parts)


#: Parts one task of a pass's reduction tree joins: few levels (each a
#: round of tasks), and few results held at once by the worker joining them.
FAN_IN = 8


class DaskBackend(NumpyBackend):
    """NumPy kernels on the blocks of a Dask array, run by Dask's active scheduler."""

    name = "dask"
    device = "cpu"
    in_process = False

    def __repr__(self) -> str:
        return f"DaskBackend(dtype={self.dtype!r})"

    def gathered(self) -> NumpyBackend:
        return NumpyBackend(self.dtype)

    def place(self, X):
        # one block across the columns: a part is whole rows
        return X if X.numblocks[1] == 1 else X.rechunk({1: -1})

    def place_weights(self, w, X):
        """A dask array of the weights in X's row blocks (a part's weights
        travel with its rows); host weights become one."""
        import dask.array as da

        if not hasattr(w, "rechunk"):
            return da.from_array(np.asarray(w, dtype=np.float64), chunks=(X.chunks[0],))
        w = w.astype(np.float64)
        return w if w.chunks[0] == X.chunks[0] else w.rechunk((X.chunks[0],))

    def take(self, X, index: np.ndarray) -> np.ndarray:
        if len(index) == X.shape[0]:
            return np.asarray(X.compute())
        return np.asarray(X[index].compute())

    def raw_chunks(self, X, chunk_size: int):
        # rows in order on the client: one block at a time (bounded memory)
        for block in X.to_delayed().ravel():
            yield from super().raw_chunks(np.asarray(block.compute()), chunk_size)

    def _shared(self, data, fn: Callable, args: tuple) -> tuple:
        """What every block's task needs besides its rows (``_on_block``)."""
        return fn, replace(data, X=None, weights=None, backend=self.gathered()), args

    def reduce(self, data, fn: Callable, args: tuple = (), combine: Callable = operator.add):
        import dask

        # one key of the graph: sent to a worker once per pass, not once per block
        shared = dask.delayed(self._shared(data, fn, args), pure=True, traverse=False)
        on_block, join = dask.delayed(_on_block, pure=True), dask.delayed(_combine, pure=True)
        blocks = data.X.to_delayed().ravel()
        weights = ([None] * len(blocks) if data.weights is None
                   else data.weights.to_delayed().ravel())
        parts = [on_block(block, w, shared) for block, w in zip(blocks, weights, strict=True)]
        while len(parts) > 1:  # a tree: each level joins up to FAN_IN parts into one
            parts = [join(parts[i:i + FAN_IN], combine) for i in range(0, len(parts), FAN_IN)]
        return dask.compute(parts[0])[0]

    def map_rows(self, data, fn: Callable, args: tuple, width: int | None, dtype):
        """A lazy Dask array: ``fn`` runs on each block when it is computed."""
        shared = self._shared(data, fn, args)
        if width is None:
            return data.X.map_blocks(_on_block, None, shared, drop_axis=1, dtype=dtype)
        return data.X.map_blocks(_on_block, None, shared, chunks=(data.X.chunks[0], (width,)),
                                 dtype=dtype)


def _digest(block) -> bytes:
    block = np.ascontiguousarray(block)
    return hashlib.sha256(repr(block.shape).encode() + block.tobytes()).digest()


def digest(X) -> bytes:
    """A SHA-256 of the blocks of a Dask array (each hashed on its worker), in order."""
    import dask

    return b"".join(dask.compute(*[dask.delayed(_digest)(b) for b in X.to_delayed().ravel()]))
