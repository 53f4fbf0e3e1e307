"""``biglearn-em reproduce EXPERIMENT``: the paper's experiments."""

from __future__ import annotations

import argparse

import numpy as np


def _grid25(args: argparse.Namespace) -> int:
    from ..datasets import GRID25_SEEDS
    from ..experiments import grid25

    seeds = GRID25_SEEDS[: args.seeds or (3 if args.quick else len(GRID25_SEEDS))]
    max_iter = args.max_iter or (300 if args.quick else grid25.PAPER["max_iter"])
    methods = {
        "EM (plain)": lambda s: grid25.plain_em(s, max_iter=max_iter),
        "BigLearn-EM (block)": lambda s: grid25.biglearn(s, max_iter=max_iter),
    }
    print(f"grid25: {len(seeds)} seeds, {max_iter} outer iterations, test KL(q || p) "
          "of the final model (lower is better; about 0.03-0.06 is optimal)")
    rows = grid25.run(methods, seeds)
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


def register(sub: argparse._SubParsersAction) -> None:
    reproduce = sub.add_parser("reproduce", help="run one of the paper's experiments")
    experiments = reproduce.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    g = experiments.add_parser("grid25", help="25 Gaussians on a 5 x 5 grid (generated data)")
    g.add_argument("--quick", action="store_true", help="3 seeds, 300 outer iterations")
    g.add_argument("--seeds", type=int, default=None, help="use the first N of the paper's seeds")
    g.add_argument("--max-iter", type=int, default=None, help="outer iterations (paper: 2000)")
    g.set_defaults(run=_grid25)
