"""grid25: 25 Gaussians on a 5 x 5 grid (DESIGN.md section 5).

Every method starts from the paper's initialisation (uniform weights, means
drawn from N(0, I), identity covariances) drawn from the seed, and is scored by
the test ``KL(q || p)`` of its final model.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datasets import GRID25_SEEDS, grid25_params, make_grid25
from ..metrics import test_kl
from ..mixture import BigLearnGaussianMixture

K = 25
#: The paper's settings: 2,000 outer x 5 inner, a = 1/sqrt(25), eps = 1e-5.
PAPER = {"max_iter": 2000, "n_inner": 5, "weight_smoothing": 1 / np.sqrt(K), "eig_floor": 1e-5,
         "patience": None}


def paper_init(seed: int) -> dict:
    """The paper's initial parameters for ``seed``: pi uniform, mu ~ N(0, I), Sigma = I."""
    rng = np.random.default_rng([seed, 1])
    return {
        "weights_init": np.full(K, 1.0 / K),
        "means_init": rng.standard_normal((K, 2)),
        "precisions_init": np.broadcast_to(np.eye(2), (K, 2, 2)).copy(),
    }


def biglearn(seed: int, max_iter: int = 2000, update: str = "block") -> BigLearnGaussianMixture:
    """BigLearn-EM with the paper's settings and initialisation."""
    settings = dict(PAPER, max_iter=max_iter)
    return BigLearnGaussianMixture(K, update=update, random_state=seed, **settings,
                                   **paper_init(seed))


def plain_em(seed: int, max_iter: int = 2000) -> BigLearnGaussianMixture:
    """Joint EM from the same initialisation (tol 1e-6 on the mean LL)."""
    return BigLearnGaussianMixture(K, view_probs=(1, 0, 0), n_inner=1, weight_smoothing=0,
                                   eig_floor=1e-5, max_iter=max_iter, tol=1e-6,
                                   random_state=seed, **paper_init(seed))


@dataclass
class Row:
    method: str
    seed: int
    kl: float
    seconds: float


def run(
    methods: dict[str, Callable[[int], object]],
    seeds: Sequence[int] = GRID25_SEEDS,
) -> list[Row]:
    """Fit every method on every seed's training data and score it on the test data."""
    truth = grid25_params()
    rows = []
    for seed in seeds:
        X_train, X_test = make_grid25(seed)
        for name, make in methods.items():
            model = make(seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train)
            rows.append(Row(name, seed, test_kl(X_test, truth, model),
                            time.perf_counter() - start))
    return rows


def add_arguments(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="3 seeds, 300 outer iterations")
    parser.add_argument("--seeds", type=int, default=None,
                        help="use the first N of the paper's seeds")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="outer iterations (paper: 2000)")


def main(args) -> int:
    seeds = GRID25_SEEDS[: args.seeds or (3 if args.quick else len(GRID25_SEEDS))]
    max_iter = args.max_iter or (300 if args.quick else PAPER["max_iter"])
    methods = {
        "EM (plain)": lambda s: plain_em(s, max_iter=max_iter),
        "BigLearn-EM (block)": lambda s: biglearn(s, max_iter=max_iter),
    }
    print(f"grid25: {len(seeds)} seeds, {max_iter} outer iterations, test KL(q || p) "
          "of the final model (lower is better; about 0.03-0.06 is optimal)")
    rows = run(methods, seeds)
    print(f"{'seed':>6} " + " ".join(f"{name:>22}" for name in methods))
    for seed in seeds:
        cells = [f"{r.kl:12.3f} ({r.seconds:5.1f} s)" for name in methods for r in rows
                 if r.method == name and r.seed == seed]
        print(f"{seed:>6} " + " ".join(f"{c:>22}" for c in cells))
    for name in methods:
        kl = np.array([r.kl for r in rows if r.method == name])
        sec = np.array([r.seconds for r in rows if r.method == name])
        print(f"{name:>22}: KL {kl.mean():.3f} +- {kl.std(ddof=1) if len(kl) > 1 else 0:.3f}, "
              f"{(kl <= 0.1).sum()}/{len(kl)} seeds <= 0.1, {sec.mean():.1f} s per seed")
    return 0
