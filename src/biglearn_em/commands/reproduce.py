"""``biglearn-em reproduce EXPERIMENT``: the paper's experiments. Each
experiment module has ``add_arguments(parser)`` and ``main(args)``."""

from __future__ import annotations

import argparse

from ..experiments import clustering, fashion_mnist, grid25, hard, missing

EXPERIMENTS = {
    "grid25": (grid25, "25 Gaussians on a 5 x 5 grid (generated data)"),
    "clustering": (clustering, "EM, BigLearn-EM, scikit-learn GMM and k-means on real data sets"),
    "fashion-mnist": (fashion_mnist,
                      "Fashion-MNIST (70,000 x 784) against k-means and a diagonal GMM"),
    "hard": (hard, "hard synthetic mixtures: BigLearn-EM against restarts at equal time"),
    "missing": (missing, "missing values: fitting incomplete data against impute-then-fit"),
}


def register(sub: argparse._SubParsersAction) -> None:
    reproduce = sub.add_parser("reproduce", help="run one of the paper's experiments")
    experiments = reproduce.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for name, (module, summary) in EXPERIMENTS.items():
        parser = experiments.add_parser(name, help=summary)
        module.add_arguments(parser)
        parser.set_defaults(run=module.main)
