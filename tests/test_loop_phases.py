"""The fit's phases as a small state machine (``engine.Phase``, ``engine.NEXT``)
and its history records (``engine.Record``)."""

import re

import numpy as np
import pytest

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.engine import NEXT, Phase, Record, State
from biglearn_em.engine.loop import _enter
from conftest import blobs

#: The order of the kinds of history records: restarts, refinement, moves,
#: views, polish (a K = 1 fit: one "exact"; plain EM: joint iterations).
ORDER = re.compile(r"(R*F*M*V*P*|E|J*)")
LETTER = {"restart": "R", "refine": "F", "move": "M", "joint": "V", "marginal": "V",
          "rotated": "V", "polish": "P", "exact": "E"}


@pytest.mark.parametrize("params", [
    {},  # every phase
    {"restarts": 0, "moves": 0},  # the paper's: views and polish
    {"n_components": 1},  # exact
    {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1},  # plain EM
])
def test_history_follows_the_phases_in_order(params):
    X, _ = blobs(np.random.default_rng(0), 3, 2, 100)
    model = BigLearnGaussianMixture(**{"n_components": 3, "random_state": 0, **params}).fit(X)
    kinds = "".join(LETTER[r["kind"]] for r in model.history_)
    if params.get("view_probs") == (1, 0, 0):
        kinds = kinds.replace("V", "J")
    assert ORDER.fullmatch(kinds), kinds
    if not params:  # the defaults run every phase: restarts, refinement, views, polish
        assert {"R", "F", "V", "P"} <= set(kinds), kinds


def test_every_phase_may_stop_and_only_listed_hand_overs_happen():
    state = State(params=None, phase="views")
    assert state.phase is Phase.VIEWS  # a checkpoint's name becomes the phase
    with pytest.raises(RuntimeError, match="from phase views to explore"):
        _enter(state, Phase.EXPLORE)
    _enter(state, Phase.POLISH)
    assert state.phase is Phase.POLISH
    for phase in Phase:
        s = State(params=None, phase=phase)
        _enter(s, Phase.DONE)
        assert s.phase is Phase.DONE
    # every phase but DONE can be reached from the start or from another phase
    reached = {Phase.EM, Phase.EXACT, Phase.EXPLORE, Phase.VIEWS}.union(*NEXT.values())
    assert reached | {Phase.DONE} == set(Phase)


def test_a_record_reads_as_the_history_dict():
    plain = Record(3, "rotated", 2, None, 1)
    assert plain.as_dict() == {"iteration": 3, "kind": "rotated", "m": 2,
                               "log_likelihood": None, "repaired": 1}
    move = Record(1, "move", 4, -1.5, 0, [0, 1, 2], True)
    assert move.as_dict()["move"] == [0, 1, 2] and move.as_dict()["accepted"] is True
