"""The engine: BigLearn-EM written once, for every backend and covariance type.

It knows nothing of the estimator (:mod:`biglearn_em.mixture`) nor of the
user's units: it fits parameters in internal coordinates (the data centred
and divided by one scalar) on :class:`Data`, whose backend
(:mod:`biglearn_em.backends`) says where the rows live and computes on them.

- :mod:`.data`: :class:`Data`, :class:`Params` and :class:`Settings`;
- :mod:`.views`: the views (joint, marginal, rotated marginal) and the write-back;
- :mod:`.covariance`: the covariance types, what each stores and how a view sees it;
- :mod:`.step`: one EM step on a view, the scoring pass, covariance repair;
- :mod:`.loop`: the fit's phases (restarts, refinement, moves, views, polish)
  as a resumable :class:`State` advanced one iteration at a time;
- :mod:`.moves`: split-and-merge proposals; :mod:`.init` and :mod:`.kmeans`:
  starts; :mod:`.checkpoint`: a running fit's state on disk.

This module is the engine's public face: what lies outside the package's core
(experiments, benchmarks) imports from here, never from the modules; the
estimator's layer (:mod:`biglearn_em.fitting`, :mod:`biglearn_em.persist`)
may also use the modules.
"""

from .covariance import NAMES as COVARIANCE_TYPES
from .covariance import CovarianceType, covariance_type
from .data import Data, Params, Settings
from .init import METHODS as INIT_METHODS
from .init import initial_params, sample_rows
from .loop import NEXT, Phase, Record, Result, Search, State, advance, floored, run, stop
from .moves import Split, owners, place_halves, splits
from .step import ensure_positive_definite, score, view_step
from .views import View, draw_view, haar_frame, joint_view, write_back

__all__ = [
    "COVARIANCE_TYPES", "INIT_METHODS", "NEXT", "CovarianceType", "Data", "Params", "Phase",
    "Record", "Result", "Search", "Settings", "Split", "State", "View", "advance",
    "covariance_type", "draw_view", "ensure_positive_definite", "floored", "haar_frame",
    "initial_params", "joint_view", "owners", "place_halves", "run", "sample_rows", "score",
    "splits", "stop", "view_step", "write_back",
]
