"""grid25: 25 Gaussians on a 5 x 5 grid (docs/design.md, "The paper's experiments").

Every method starts from the paper's initialisation (uniform weights, means
drawn from N(0, I), identity covariances) drawn from the seed, and is scored by
the test ``KL(q || p)`` of its final model.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from .. import engine
from ..datasets import GRID25_SEEDS, grid25_params, make_grid25
from ..fitting import Fit
from ..metrics import test_kl
from ..mixture import BigLearnGaussianMixture
from . import report

K = 25
#: The paper's settings: 2,000 outer x 5 inner, a = 1/sqrt(25), eps = 1e-5.
#: The paper's algorithm has no restarts and no split-and-merge moves.
PAPER = {"max_iter": 2000, "n_inner": 5, "weight_smoothing": 1 / np.sqrt(K), "eig_floor": 1e-5,
         "patience": None, "view_probs": (0.4, 0.1, 0.5), "subset_beta": (5.0, 1.0),
         "restarts": 0, "moves": 0}


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


def defaults(seed: int) -> BigLearnGaussianMixture:
    """The estimator's defaults (its fit strategy), started from the paper's
    initialisation: the start is the first of its runs."""
    return BigLearnGaussianMixture(K, random_state=seed, **paper_init(seed))


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
    methods: dict[str, Callable[[int], Any]],
    seeds: Sequence[int] = GRID25_SEEDS,
    keep_models: Sequence[int] = (),
) -> list[Row] | tuple[list[Row], dict]:
    """Fit every method on every seed's training data and score it on the test data.

    Returns the rows; with ``keep_models``, also the fitted models of those
    seeds keyed by ``(method, seed)``.
    """
    truth = grid25_params()
    rows, models = [], {}
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
            if seed in keep_models:
                models[(name, seed)] = model
    return (rows, models) if keep_models else rows


def scikit_learn(seed: int, n_init: int) -> GaussianMixture:
    """What a user would otherwise run: scikit-learn with k-means initialisation."""
    return GaussianMixture(K, covariance_type="full", n_init=n_init, random_state=seed)


def methods(max_iter: int) -> dict[str, Callable[[int], object]]:
    """Every method of the comparison, by name."""
    return {
        "EM": lambda s: plain_em(s, max_iter=max_iter),
        "BigLearn-EM (block)": lambda s: biglearn(s, max_iter=max_iter),
        "BigLearn-EM (conditional)": lambda s: biglearn(s, max_iter=max_iter,
                                                        update="conditional"),
        "biglearn-em defaults, paper start": defaults,
        "sklearn k-means init, n_init=1": lambda s: scikit_learn(s, 1),
        "sklearn k-means init, n_init=10": lambda s: scikit_learn(s, 10),
    }


def joint_ll_trace(seed: int, max_iter: int) -> tuple[list[str], np.ndarray]:
    """BigLearn-EM on ``seed`` step by step: the kind of every outer (or polish)
    iteration and the joint training log-likelihood after it."""
    model = biglearn(seed, max_iter=max_iter)
    X_train, _ = make_grid25(seed)
    fit = Fit.prepare(model, X_train)
    data, settings = fit.data, fit.settings
    state = fit.initial_state(data)
    joint = engine.joint_view(data.n_features)
    kinds, lls = [], []
    while state.phase != "done":
        kinds.append(engine.advance(data, state, settings, fit.rng)["kind"])
        lls.append(engine.view_step(data, state.params, joint, settings, 0.0)[1])
    return kinds, np.array(lls)


def add_arguments(parser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="3 seeds, 300 outer iterations (under a minute)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="use the first N of the paper's 10 seeds")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="outer iterations of BigLearn-EM and EM (paper: 2000)")
    parser.add_argument("--out", default="out/grid25",
                        help="folder for report.md and the figures (default: out/grid25)")


def summarize(rows: list[Row], names: Sequence[str]) -> list[dict]:
    """Per method: mean, sd, min, max of KL, seeds with KL <= 0.1, mean seconds."""
    out = []
    for name in names:
        kl = np.array([r.kl for r in rows if r.method == name])
        sec = np.array([r.seconds for r in rows if r.method == name])
        out.append({"method": name, "mean": kl.mean(), "sd": kl.std(ddof=1) if len(kl) > 1 else 0.0,
                    "min": kl.min(), "max": kl.max(), "good": int((kl <= 0.1).sum()),
                    "n": len(kl), "seconds": sec.mean()})
    return out


def main(args) -> int:
    seeds = list(GRID25_SEEDS[: args.seeds or (3 if args.quick else len(GRID25_SEEDS))])
    max_iter = args.max_iter or (300 if args.quick else PAPER["max_iter"])
    compared = methods(max_iter)
    print(f"grid25: {len(seeds)} seeds, {max_iter} outer iterations; test KL(q || p) of the "
          "final model (lower is better; EM from the true parameters reaches about 0.03-0.06)")
    # with models to keep (the first seeds), run returns them beside the rows
    rows, models = cast(tuple[list[Row], dict], run(compared, seeds, keep_models=seeds[:3]))
    summary = summarize(rows, list(compared))
    per_seed = [[str(seed)] + [f"{r.kl:.3f} ({r.seconds:.1f} s)" for name in compared
                               for r in rows if r.method == name and r.seed == seed]
                for seed in seeds]
    per_seed_table = report.table(["seed", *compared], per_seed)
    summary_table = report.table(
        ["method", "test KL mean +- sd", "min - max", "seeds with KL <= 0.1", "time per seed"],
        [[m["method"], f"{m['mean']:.3f} +- {m['sd']:.3f}", f"{m['min']:.3f} - {m['max']:.3f}",
          f"{m['good']}/{m['n']}", f"{m['seconds']:.2f} s"] for m in summary])
    print(summary_table)

    out = report.prepare(args.out)
    figures = []
    if report.have_matplotlib():
        from . import plots

        kl_by_method = {name: [r.kl for r in rows if r.method == name] for name in compared}
        figures.append(plots.box_plot(kl_by_method, "test KL(q || p)",
                                      out / "kl_boxplot.png", "grid25: test KL per method"))
        truth = grid25_params()
        for seed in seeds[:3]:
            fits = {"EM": models[("EM", seed)],
                    "BigLearn-EM (block)": models[("BigLearn-EM (block)", seed)]}
            figures.append(plots.density_contours(truth, fits, out / f"contours_seed{seed}.png",
                                                  f"seed {seed}"))
        kinds, lls = joint_ll_trace(seeds[0], max_iter)
        figures.append(plots.ll_trace(kinds, lls, out / "ll_trace.png",
                                      f"BigLearn-EM on seed {seeds[0]}: joint training LL"))
    else:
        print(report.NO_MATPLOTLIB)
    settings = report.table(["setting", "value"], [
        ["seeds", ", ".join(map(str, seeds))],
        ["data", "2,000 training and 5,000 test points per seed"],
        ["initialisation (EM, BigLearn-EM)", "pi uniform, mu ~ N(0, I), Sigma = I"],
        ["BigLearn-EM", f"{max_iter} outer x {PAPER['n_inner']} inner, a = 1/sqrt(25), "
                        f"eps = {PAPER['eig_floor']:g}, view probs (0.4, 0.1, 0.5), Beta(5, 1)"],
        ["EM", f"at most {max_iter} iterations, tol 1e-6, eps = {PAPER['eig_floor']:g}"],
        ["scikit-learn", "GaussianMixture(25, 'full'), k-means init, reg_covar 1e-6"],
    ])
    path = report.write(out, "grid25: BigLearn-EM against EM and scikit-learn", [
        ("Summary", summary_table),
        ("Per seed: test KL (wall time)", per_seed_table),
        ("Settings", settings),
    ], figures)
    print(f"wrote {path}" + (f" and {len(figures)} figures" if figures else ""))
    return 0
