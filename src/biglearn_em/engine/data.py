"""The data and the parameters the engine works on: :class:`Data` (where
the data live, their map into internal coordinates, chunks and passes),
:class:`Params` (a mixture's weights, means and covariances) and
:class:`Settings` (everything else a fit's loop needs, in internal units).

Internal coordinates: the data centred and divided by one scalar, so that
floors and tolerances mean the same thing at every scale of the input.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..backends.base import Backend
from ..backends.numpy import NumpyBackend
from . import missing
from .covariance import CovarianceType, covariance_type
from .missing import fill_gaps, may_have_gaps

if TYPE_CHECKING:
    from .views import View


#: Bytes of laid-out chunks with gaps a fit keeps between its passes.
GAP_CACHE_BYTES = 1 << 29

#: Data of at most this many bytes keep their chunks in internal coordinates
#: (and those of the last view that read them) after the first pass: on small
#: data, recomputing ``(X - shift) / scale`` at every step cost about 3% of a
#: step (grid25: 10 us of 270), against a copy of data this small.
CHUNK_CACHE_BYTES = 1 << 22


@dataclass
class Data:
    """The data as a backend reads them, with the affine map into internal
    coordinates.

    ``X`` (N, D) is kept as given or as ``backend.place`` put it (on a device
    when it fits there); chunks of ``chunk_size`` rows are converted to the
    compute dtype as ``(X - shift) / scale`` on the fly. ``shift`` (D,) is a
    float64 array of the backend; ``shift=None`` reads X as it is (inference
    on fitted parameters, which are in the units of X). ``weights`` (N,):
    the rows' frequency weights where the backend reads them beside the rows
    (None: every row counts once); a weighted row counts as that many copies
    of itself in every sum of the fit.
    """

    X: Any
    shift: Any
    scale: float
    chunk_size: int
    backend: Backend = field(default_factory=NumpyBackend)
    weights: Any = None
    #: Whether X has missing values (NaN). The E-steps then explain each row
    #: by its observed part (:mod:`biglearn_em.engine.missing`, through
    #: :meth:`gappy_chunks`); every other reader of the rows (starts, k-means,
    #: the moves' proposals, the search subsample's statistics) reads a gap as
    #: its column's mean, 0 in internal coordinates (:meth:`chunks`).
    missing: bool = False
    #: The chunks with gaps laid out for their E-steps
    #: (:func:`biglearn_em.engine.missing.prepare`), kept across the passes of a
    #: fit up to :data:`GAP_CACHE_BYTES` (None: not kept, e.g. a part of a Dask
    #: pass, which lives for one pass).
    gap_cache: dict | None = field(default=None, repr=False, compare=False)
    #: The internal-coordinate chunks of small data after a first pass read
    #: them all (:data:`CHUNK_CACHE_BYTES`): ``(X, shift, scale, chunk_size,
    #: weights)`` as read, their chunks, then the last view that read them and
    #: its chunks (:meth:`_chunks`). Not an argument: ``replace`` and
    #: :meth:`subset` start without it, and the key is checked at each read.
    #: The key compares X by identity: X must not be written in place during
    #: the life of a Data (the estimator and the model search make one per
    #: fit), and no reader may write into a chunk (NumPy's are read-only;
    #: torch tensors cannot be made so).
    _chunk_cache: list | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_array(cls, X, chunk_size: int | None, backend: Backend | None = None,
                   n_components: int = 1, weights=None) -> Data:
        """The data ``X`` (N, D) with the column means as ``shift`` and the
        root mean feature variance as ``scale`` (three passes over X), both
        weighted by ``weights`` (N,) when given."""
        raw = cls.unscaled(X, chunk_size, NumpyBackend() if backend is None else backend,
                           n_components)
        N, D = raw.X.shape
        if weights is not None:
            raw = replace(raw, weights=raw.backend.place_weights(weights, raw.X))
            N = raw.total_weight()
        shift = raw.reduce(_column_sums) / N
        if not np.isfinite(raw.backend.to_numpy(shift)).all():
            # NaN or infinity somewhere (one more pass says which): gaps are read
            # as missing values, anything else is an error
            return cls._with_gaps(raw, N)
        # two passes with a max-abs pre-scale: no overflow for values near 1e150
        peak = raw.reduce(_peak_deviation, (shift,), max)
        if peak == 0.0 or not np.isfinite(peak):
            return replace(raw, shift=shift, scale=1.0 if peak == 0.0 else peak)
        ss = raw.reduce(_scaled_squares, (shift, peak))
        return replace(raw, shift=shift, scale=peak * np.sqrt(ss / (N * D)))

    @classmethod
    def _with_gaps(cls, raw: Data, N: float) -> Data:
        """:meth:`from_array` for data with NaN: the map into internal
        coordinates from the observed values (column means over the rows that
        observe each column, the root mean variance over observed entries)."""
        be = raw.backend
        D = raw.n_features
        summary = raw.reduce(_gap_summary)
        if summary[0]:
            raise ValueError("Input X contains infinity or a value too large for "
                             "dtype('float64').")
        if summary[1]:
            raise missing.empty_rows(int(summary[1]))
        counts = summary[2 : 2 + D]
        never = np.flatnonzero(counts == 0)
        if len(never):
            raise ValueError(f"X's column(s) {never.tolist()} are never observed (all NaN): the "
                             "model cannot learn them; drop them before fitting.")
        raw = replace(raw, missing=True, gap_cache={} if be.in_process else None)
        shift = be.asarray(summary[2 + D :] / counts)
        peak = raw.reduce(_peak_observed, (shift,), max)
        if peak == 0.0:
            return replace(raw, shift=shift, scale=1.0)
        ss = raw.reduce(_observed_squares, (shift, peak))
        return replace(raw, shift=shift, scale=peak * np.sqrt(ss / counts.sum()))

    @classmethod
    def unscaled(cls, X, chunk_size: int | None, backend: Backend,
                 n_components: int = 1) -> Data:
        """``X`` read as it is, for log-densities of fitted parameters."""
        X = backend.place(X)
        if chunk_size is None:
            chunk_size = backend.default_chunk_size(X.shape[1], n_components)
        return cls(X, None, 1.0, chunk_size, backend)

    def subset(self, index: np.ndarray) -> Data:
        """The rows ``index`` (sorted host integers) as data with the same map
        into internal coordinates: a copy of those rows where the backend keeps
        them (gathered into this process from Dask's workers)."""
        here = self.backend.gathered()
        X = here.place(self.backend.take(self.X, index))
        weights = (None if self.weights is None
                   else here.place_weights(self.backend.take(self.weights, index), X))
        # the rows are in this process now: their layout can be kept (even when
        # this data's parts, on Dask's workers, lay themselves out each pass)
        return Data(X, self.shift, self.scale, self.chunk_size, here, weights, self.missing,
                    {} if self.missing and here.in_process else None)

    def reduce(self, fn: Callable, args: tuple = (), combine: Callable = operator.add) -> Any:
        """``fn(part, *args)`` summed (or combined by ``combine``) over the parts
        of the data: one pass (see
        :meth:`Backend.reduce <biglearn_em.backends.base.Backend.reduce>`)."""
        return self.backend.reduce(self, fn, args, combine)

    def map_rows(self, fn: Callable, args: tuple, width: int | None, dtype) -> Any:
        """``fn(part, *args)`` for each part, joined in row order: (N,) or
        (N, width) (see :meth:`Backend.map_rows <biglearn_em.backends.base.Backend.map_rows>`)."""
        return self.backend.map_rows(self, fn, args, width, dtype)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    def total_weight(self) -> float:
        """What the rows count for: N, or the sum of the weights (a pass over them)."""
        if self.weights is None:
            return float(self.n_samples)
        return float(self.reduce(_weight_sum))

    def weight_chunks(self) -> Iterator[Any]:
        """The weights of the rows of :meth:`chunks`, chunk for chunk (n,)
        float64 arrays of the backend; None for each chunk when unweighted."""
        if self.weights is None:
            return itertools.repeat(None)
        return self.backend.raw_chunks(self.weights, self.chunk_size)

    def n_counted(self) -> int:
        """How many rows count: N, or the rows of weight > 0."""
        w = self.host_weights()
        return self.n_samples if w is None else int(np.count_nonzero(w > 0))

    def sample_counted(self, rows: int, rng: np.random.Generator) -> np.ndarray:
        """Sorted indices of ``rows`` rows drawn without replacement among the
        rows that count (all of them when there are no more). Samples of the
        data (a search subsample, a start's sample) are drawn so, never of rows
        that count for nothing; unweighted, the draws are those of
        ``rng.choice(N, rows, replace=False)``, without an array of N indices."""
        w = self.host_weights()
        if w is None:
            N = self.n_samples
            return np.arange(N) if N <= rows else np.sort(rng.choice(N, rows, replace=False))
        pool = np.flatnonzero(w > 0)
        if len(pool) <= rows:
            return pool
        return np.sort(pool[rng.choice(len(pool), rows, replace=False)])

    def host_weights(self) -> np.ndarray | None:
        """All the weights as a host array (N,), or None when unweighted."""
        if self.weights is None:
            return None
        return np.concatenate([self.backend.to_numpy(w) for w in self.weight_chunks()])

    def standardized(self) -> Any:
        """All of X in internal coordinates, (N, D), as one array of the backend."""
        return self.backend.concat(self.chunks())

    def rows(self, index: np.ndarray) -> Any:
        """The rows ``index`` (host integers) in internal coordinates, (len(index), D)
        (a gap as its column's mean)."""
        be = self.backend
        Z = be.standardize(be.take(self.X, index), self.shift, self.scale)
        return fill_gaps(be, Z) if self.missing else Z

    def chunks(self, view: View | None = None) -> Iterator[Any]:
        """Internal-coordinate chunks seen through ``view``, each (n, m), in the
        backend's compute dtype; a gap (missing value) reads as its column's
        mean (0)."""
        if self.missing:
            be = self.backend
            for Z in self.gappy_chunks():
                Z = fill_gaps(be, Z)
                yield Z if view is None else view.data(Z)
            return
        yield from self._chunks(view)

    def gappy_chunks(self) -> Iterator[Any]:
        """Internal-coordinate chunks (n, D) with their missing values as NaN."""
        return self._chunks(None)

    def prepared_chunks(self, K: int) -> Iterator[tuple[Any, Any, Any]]:
        """Each chunk with its gaps (n, D), its weights (or None) and its layout
        for E-steps with ``K`` components (None for a chunk without gaps),
        laid out once per fit while :data:`GAP_CACHE_BYTES` allow."""
        be, cache = self.backend, self.gap_cache
        for i, (Z, w) in enumerate(zip(self.gappy_chunks(), self.weight_chunks())):
            key = (i, K)
            if cache is not None and key in cache:
                yield Z, w, cache[key]
                continue
            gappy = may_have_gaps(be, Z) and bool((Z != Z).any())
            prepared = missing.prepare(be, Z, w, K) if gappy else None
            if cache is not None:
                size = 0 if prepared is None else prepared.nbytes
                if cache.get("bytes", 0) + size <= GAP_CACHE_BYTES:
                    cache[key] = prepared
                    cache["bytes"] = cache.get("bytes", 0) + size
            yield Z, w, prepared

    def _chunks(self, view: View | None) -> Iterator[Any]:
        """Internal-coordinate chunks (gaps as NaN) seen through ``view``: of
        small in-process data kept after the first pass, and with them those
        of the last view read (a view's inner steps read the same view several
        times); X and the map into internal coordinates do not change during
        a fit, and the key below notices an object that was given new ones."""
        be = self.backend
        key = (self.X, self.shift, self.scale, self.chunk_size, self.weights)
        cache = self._chunk_cache
        if cache is not None and all(a is b for a, b in zip(cache[0], key)):
            if view is None or view.kind == "joint":
                yield from cache[1]
                return
            if cache[2] is not view:
                # the view's own chunks, read-only like the standardised ones
                cache[2:] = [view, [_read_only(view.data(Z)) for Z in cache[1]]]
            yield from cache[3]
            return
        keep = (be.in_process and self.shift is not None
                and self.X.shape[0] * self.X.shape[1] * 8 <= CHUNK_CACHE_BYTES)
        if not keep:
            yield from self._standardized_chunks(view)
            return
        chunks = []
        for Z in self._standardized_chunks(None):
            chunks.append(_read_only(Z))
            yield Z if view is None else view.data(Z)
        # kept once every chunk was read (a reader that stopped early keeps nothing)
        self._chunk_cache = [key, chunks, None, None]

    def _standardized_chunks(self, view: View | None) -> Iterator[Any]:
        """:meth:`_chunks` computed from X."""
        be = self.backend
        if self.weights is None:
            for raw in be.raw_chunks(self.X, self.chunk_size):
                Z = be.standardize(raw, self.shift, self.scale)
                yield Z if view is None else view.data(Z)
            return
        for raw, w in zip(be.raw_chunks(self.X, self.chunk_size), self.weight_chunks()):
            # a row of weight 0 is read as the centre (0): whatever its values, no
            # product with it overflows, and times its weight it adds nothing
            Z = be.standardize(raw, self.shift, self.scale) * (w > 0)[:, None]
            yield Z if view is None else view.data(Z)


def _read_only(Z):
    """A kept chunk, read-only where the array says so (NumPy): a reader that
    wrote into a chunk would change every later pass."""
    if isinstance(Z, np.ndarray):
        Z.flags.writeable = False
    return Z


@dataclass
class Params:
    """Mixture parameters: weights (K,), means (K, D) and covariances stored
    as their covariance type stores them (:mod:`biglearn_em.engine.covariance`: (K, D, D),
    (1, D, D), (K, D) or (K,)), float64 arrays of the fit's backend."""

    weights: Any
    means: Any
    covs: Any


@dataclass(frozen=True)
class Settings:
    """Everything the loop needs besides data and parameters (internal units)."""

    view_probs: tuple[float, float, float]
    subset_beta: tuple[float, float]
    n_inner: int
    smoothing: float
    eig_floor: float
    reg_covar: float
    update: str
    max_iter: int
    tol: float
    #: Outer iterations of the views without improvement before the polish
    #: (None: none; "auto": as :func:`biglearn_em.engine.loop._patience` says).
    patience: int | Literal["auto"] | None
    verbose: int = 0
    #: Short EM runs from new k-means++ starts, besides the fit's own start,
    #: before the views (0: the views start from the fit's start, as in the paper).
    restarts: int = 0
    #: Converged short runs at the best optimum that end the restarts early
    #: (None: all ``restarts`` run).
    restart_agreement: int | None = None
    #: EM steps of each short run, the start's included.
    restart_iter: int = 10
    #: Outer iterations of the views over which the weight smoothing fades
    #: linearly to 0 (None: constant, as in the paper).
    fade: int | None = None
    #: Split-and-merge proposals tried per round after the refinement (0: none).
    moves: int = 0
    #: One of :data:`biglearn_em.engine.covariance.NAMES`.
    covariance_type: str = "full"

    @property
    def covariance(self) -> CovarianceType:
        return covariance_type(self.covariance_type)

    @property
    def plain(self) -> bool:
        """Only joint views: the loop is EM and stops on ``tol`` as scikit-learn does."""
        return self.view_probs[0] == 1.0


def _gap_summary(part: Data) -> np.ndarray:
    """Of one part's raw rows: [infinite values, rows with nothing observed,
    observed values per column (D), sums of the observed values per column
    (D)], weighted, as one host array that adds up over parts."""
    be = part.backend
    D = part.n_features
    out = np.zeros(2 + 2 * D)
    for raw, w in zip(be.raw_chunks(part.X, part.chunk_size), part.weight_chunks()):
        raw = be.to_numpy(raw).astype(np.float64, copy=False)
        w = None if w is None else be.to_numpy(w)
        observed = ~np.isnan(raw)
        out[0] += np.count_nonzero(np.isinf(raw))
        # a row with nothing observed is refused even at weight 0: the fit's
        # labels_ and every prediction read every row
        out[1] += np.count_nonzero(~observed.any(1))
        if w is not None:
            observed = observed & (w > 0)[:, None]
        filled = np.where(observed, raw, 0.0)
        out[2 : 2 + D] += observed.sum(0) if w is None else w @ observed
        out[2 + D :] += filled.sum(0) if w is None else w @ filled
    return out


def _peak_observed(part: Data, shift) -> float:
    """The largest ``|x - shift|`` over the observed values of one part (of
    rows of weight > 0)."""
    be = part.backend
    peak = 0.0
    for raw, w in zip(be.raw_chunks(part.X, part.chunk_size), part.weight_chunks()):
        dev = abs(raw - shift)
        dev[dev != dev] = 0.0
        if w is not None:
            dev = dev * (w > 0)[:, None]
        peak = max(peak, be.item(dev.max()) if dev.shape[0] else 0.0)
    return peak


def _observed_squares(part: Data, shift, peak: float) -> float:
    """The sum of ``((x - shift) / peak)^2`` over the observed values of one part
    (weighted)."""
    be = part.backend
    total = 0.0
    for raw, w in zip(be.raw_chunks(part.X, part.chunk_size), part.weight_chunks()):
        scaled = (raw - shift) / peak
        scaled[scaled != scaled] = 0.0
        if w is not None:
            scaled = scaled * (w > 0)[:, None]
        squares = (scaled * scaled).sum(1)
        total += be.item(squares.sum() if w is None else w @ be.asarray(squares))
    return total


def _column_sums(part: Data) -> Any:
    """Column sums (D,) of the raw rows of one part (weighted), float64."""
    be = part.backend
    total = be.zeros(part.n_features)
    if part.weights is not None:
        for raw, w in zip(be.raw_chunks(part.X, part.chunk_size), part.weight_chunks()):
            total += w @ be.asarray(raw)
        return total
    for raw in be.raw_chunks(part.X, part.chunk_size):
        total += raw.sum(0, dtype=total.dtype)
    return total


def _weight_sum(part: Data) -> float:
    """The sum of the weights of one part."""
    return sum(float(part.backend.item(w.sum())) for w in part.weight_chunks())


def _peak_deviation(part: Data, shift) -> float:
    """The largest ``|x - shift|`` of one part (over the rows of weight > 0:
    a row that counts for nothing must not set the scale)."""
    be = part.backend
    if part.weights is not None:
        return max((be.item(abs(raw[w > 0] - shift).max()) if bool((w > 0).any()) else 0.0
                    for raw, w in zip(be.raw_chunks(part.X, part.chunk_size),
                                      part.weight_chunks())), default=0.0)
    return max((be.item(abs(raw - shift).max()) for raw in be.raw_chunks(part.X,
                                                                        part.chunk_size)),
               default=0.0)


def _scaled_squares(part: Data, shift, peak: float) -> float:
    """The sum of ``((x - shift) / peak)^2`` over one part (weighted)."""
    be = part.backend
    total = 0.0
    for raw, w in zip(be.raw_chunks(part.X, part.chunk_size), part.weight_chunks()):
        scaled = (raw - shift) / peak
        if w is not None:  # rows of weight 0 may lie beyond the peak: their squares overflow
            scaled = scaled * (w > 0)[:, None]
        squares = (scaled * scaled).sum(1) if w is not None else scaled * scaled
        total += be.item((squares if w is None else w @ be.asarray(squares)).sum())
    return total
