"""Checkpoints of a running fit: the engine's :class:`~biglearn_em.engine.loop.State`,
the random generator's state and a fingerprint of the data and settings, in
one ``.npz`` file (arrays plus one JSON entry; never pickle), written atomically.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from .._files import not_an_npz, npz_error, write_npz_atomic
from .data import Params
from .loop import State

FORMAT = "biglearn-em-checkpoint"
VERSION = 2
_PARAM_FIELDS = ("weights", "means", "covs")
_SCALARS = ("phase", "n_iter", "n_polish", "lower_bound", "converged", "best_ll", "reset_ll",
            "since_best", "lower_bounds", "history", "n_restarts", "n_refine", "candidate_ll",
            "n_moves", "moves_ll", "move_queue", "search_seed")
#: Fields added after version 2 was first written: a checkpoint without them
#: resumes with their defaults. (A checkpoint of a release before issue 22 is
#: refused all the same: its key hashes the estimator's parameters, and
#: restart_agreement and patience="auto" are new; its fit would go on under
#: rules it did not start with.)
_LATER_SCALARS = ("origin_ll", "n_steps", "converged_runs", "agreed", "improvement_took")
#: The parameter sets a state may hold besides its current ones.
_PARAM_SETS = ("params", "best", "candidate", "origin")


def save(path: str | os.PathLike, state: State, rng: np.random.Generator, init: int,
         best: State | None, key: str, to_numpy: Callable = np.asarray) -> None:
    """Write the fit's state atomically: a temporary file in the same folder,
    flushed to disk, then renamed over ``path``.

    ``init`` is the index of the initialisation in progress and ``best`` the
    finished state of the best earlier initialisation (with ``n_init > 1``).
    ``to_numpy`` brings the backend's parameter arrays to the host.
    """
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "version": VERSION, "key": key, "init": init,
            "rng": rng.bit_generator.state, "state": _put(arrays, "state", state, to_numpy),
            "best": None if best is None else _put(arrays, "best", best, to_numpy)}
    arrays["meta"] = np.array(json.dumps(meta))
    write_npz_atomic(path, arrays)


def load(path: str | os.PathLike, key: str, asarray: Callable = np.asarray
         ) -> tuple[State, dict, int, State | None]:
    """Read a checkpoint written by :func:`save` for the same data and settings.

    Returns the state, the generator state, the initialisation index and the
    best earlier state; ``asarray`` puts the parameter arrays on the fit's backend.

    Raises
    ------
    ValueError
        If the file is not a readable checkpoint of this format, or was written
        for other data or settings (its ``key`` differs).
    """
    why = not_an_npz(path)
    if why is not None:
        raise ValueError(f"{path} is not a readable biglearn-em checkpoint ({why}); delete "
                         "it or choose another checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a readable biglearn-em checkpoint "
                         f"({npz_error(exc)})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{path} is not a biglearn-em checkpoint of version {VERSION}")
    if meta.get("key") != key:
        raise ValueError(f"{path} was written for other data or settings; delete it or "
                         "choose another checkpoint file to start afresh")
    try:
        state = _get(arrays, "state", meta["state"], asarray)
        best = None if meta["best"] is None else _get(arrays, "best", meta["best"], asarray)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is an incomplete checkpoint (missing {exc})") from None
    except ValueError as exc:  # a phase (or another value) this version does not know
        raise ValueError(f"{path} is not a checkpoint this version can resume: {exc}") from None
    return state, meta["rng"], int(meta["init"]), best


def _put(arrays: dict, prefix: str, state: State, to_numpy: Callable) -> dict:
    for name in _PARAM_SETS:
        params = getattr(state, name)
        if params is not None:
            for f in _PARAM_FIELDS:
                arrays[f"{prefix}.{name}.{f}"] = to_numpy(getattr(params, f))
    scalars = {name: getattr(state, name) for name in _SCALARS + _LATER_SCALARS}
    scalars["held"] = [name for name in _PARAM_SETS if getattr(state, name) is not None]
    return scalars


def _get(arrays: dict, prefix: str, scalars: dict, asarray: Callable) -> State:
    def params(name: str) -> Params:
        return Params(*(asarray(arrays[f"{prefix}.{name}.{f}"]) for f in _PARAM_FIELDS))

    values: dict[str, Any] = {name: scalars[name] for name in _SCALARS}
    values.update({name: scalars[name] for name in _LATER_SCALARS if name in scalars})
    held: dict[str, Any] = {name: params(name) for name in scalars["held"] if name != "params"}
    return State(params("params"), **held, **values)
