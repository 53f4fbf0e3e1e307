"""``biglearn-em reproduce EXPERIMENT``: the paper's experiments. Each
experiment module has ``add_arguments(parser)`` and ``main(args)``."""

from __future__ import annotations

import argparse

from ..experiments import clustering, fashion_mnist, grid25, hard


def register(sub: argparse._SubParsersAction) -> None:
    reproduce = sub.add_parser("reproduce", help="run one of the paper's experiments")
    experiments = reproduce.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    g = experiments.add_parser("grid25", help="25 Gaussians on a 5 x 5 grid (generated data)")
    grid25.add_arguments(g)
    g.set_defaults(run=grid25.main)
    c = experiments.add_parser(
        "clustering", help="EM, BigLearn-EM, scikit-learn GMM and k-means on real data sets")
    clustering.add_arguments(c)
    c.set_defaults(run=clustering.main)
    f = experiments.add_parser(
        "fashion-mnist", help="Fashion-MNIST (70,000 x 784) against k-means and a diagonal GMM")
    fashion_mnist.add_arguments(f)
    f.set_defaults(run=fashion_mnist.main)
    h = experiments.add_parser(
        "hard", help="hard synthetic mixtures: BigLearn-EM against restarts at equal time")
    hard.add_arguments(h)
    h.set_defaults(run=hard.main)
