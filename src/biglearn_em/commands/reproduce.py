"""``biglearn-em reproduce EXPERIMENT``: the paper's experiments. Each
experiment module has ``add_arguments(parser)`` and ``main(args)``."""

from __future__ import annotations

import argparse

from ..experiments import grid25


def register(sub: argparse._SubParsersAction) -> None:
    reproduce = sub.add_parser("reproduce", help="run one of the paper's experiments")
    experiments = reproduce.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    g = experiments.add_parser("grid25", help="25 Gaussians on a 5 x 5 grid (generated data)")
    grid25.add_arguments(g)
    g.set_defaults(run=grid25.main)
