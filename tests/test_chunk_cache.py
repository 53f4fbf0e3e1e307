"""Small data keep their internal-coordinate chunks, and those of the last
view read, across passes (engine.data.Data._chunks): what they give must be
what recomputing them gives, whatever view, weights or gaps."""

from dataclasses import replace

import numpy as np
import pytest

from biglearn_em.backends.numpy import NumpyBackend
from biglearn_em.engine import data as data_module
from biglearn_em.engine.data import Data
from biglearn_em.engine.views import View, haar_frame, joint_view


def _fresh(data: Data, view=None) -> list:
    return list(data._standardized_chunks(view))


def _views(rng, D):
    return [None, joint_view(D),
            View("marginal", D, index=np.array([0, 2])),
            View("rotated", D, basis=haar_frame(rng, D, 2).T)]


@pytest.mark.parametrize("weighted", [False, True])
def test_kept_chunks_are_those_recomputation_gives(rng, weighted):
    X = rng.normal(size=(250, 4)) * 3.0 + 1.0
    w = rng.integers(0, 3, size=250).astype(float) if weighted else None
    data = Data.from_array(X, 64, weights=w)
    list(data.chunks())  # the first full pass keeps them
    assert data._chunk_cache is not None
    for view in _views(rng, 4):
        view = None if view is None else view.on(data.backend)
        for _ in range(2):  # the second read of a view takes its kept chunks
            got = list(data.chunks(view))
            want = _fresh(data, view)
            assert len(got) == len(want) == 4
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)


def test_kept_chunks_are_read_only(rng):
    data = Data.from_array(rng.normal(size=(100, 3)), 40)
    list(data.chunks())
    for Z in data.chunks():
        with pytest.raises(ValueError):
            Z[0, 0] = 1.0


def test_a_new_view_gets_its_own_chunks(rng):
    data = Data.from_array(rng.normal(size=(100, 3)), 40)
    list(data.chunks())
    first = View("rotated", 3, basis=haar_frame(rng, 3, 2).T).on(data.backend)
    second = View("rotated", 3, basis=haar_frame(rng, 3, 2).T).on(data.backend)
    a = list(data.chunks(first))
    b = list(data.chunks(second))
    for x, y, z in zip(b, _fresh(data, second), a):
        np.testing.assert_array_equal(x, y)
        assert not np.array_equal(x, z)
    # and back to the first: recomputed for it, not the second's
    for x, y in zip(data.chunks(first), _fresh(data, first)):
        np.testing.assert_array_equal(x, y)


def test_new_map_or_rows_are_not_read_from_the_cache(rng):
    X = rng.normal(size=(100, 3))
    data = Data.from_array(X, 40)
    list(data.chunks())
    moved = replace(data, shift=data.shift + 1.0)
    for a, b in zip(moved.chunks(), _fresh(moved)):
        np.testing.assert_array_equal(a, b)
    # an object given a new scale in place does not read the old chunks either
    data.scale = 2.0 * data.scale
    for a, b in zip(data.chunks(), _fresh(data)):
        np.testing.assert_array_equal(a, b)


def test_gaps_read_as_nan_from_the_kept_chunks(rng):
    X = rng.normal(size=(60, 3))
    X[::7, 1] = np.nan
    data = Data.from_array(X, 25)
    assert data.missing
    list(data.gappy_chunks())
    for a, b in zip(data.gappy_chunks(), _fresh(data)):
        np.testing.assert_array_equal(a, b)  # NaN where they were
    filled = np.concatenate(list(data.chunks()))
    assert np.isfinite(filled).all()


def test_large_data_and_partial_reads_keep_nothing(rng, monkeypatch):
    data = Data.from_array(rng.normal(size=(100, 3)), 40)
    next(data.chunks())  # a reader that stopped after one chunk
    assert data._chunk_cache is None
    monkeypatch.setattr(data_module, "CHUNK_CACHE_BYTES", 100 * 3 * 8 - 1)
    list(data.chunks())
    assert data._chunk_cache is None
    assert NumpyBackend().in_process
