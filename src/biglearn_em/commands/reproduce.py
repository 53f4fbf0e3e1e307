"""``biglearn-em reproduce EXPERIMENT``: the paper's experiments. Each
experiment module has ``add_arguments(parser)`` and ``main(args)``."""

from __future__ import annotations

import argparse

from ..experiments import fashion_mnist, grid25, hard


def _clustering(args: argparse.Namespace) -> int:
    import shlex
    import sys
    import time

    from ..datasets import UCI_FILES, data_dir_from_env
    from ..experiments import clustering

    names = clustering.DATASETS if args.dataset == "all" else tuple(
        n.strip() for n in args.dataset.split(","))
    unknown = [n for n in names if n not in clustering.SETTINGS]
    if unknown:
        raise ValueError(f"unknown data set {unknown[0]!r}; expected 'all' or a comma-separated "
                         f"list of {', '.join(clustering.DATASETS)}")
    # the .mat sets need the directory; scikit-learn's bundled ones do not
    data_dir = (data_dir_from_env(args.data_dir) if any(n in UCI_FILES for n in names)
                else args.data_dir)
    n_seeds = args.seeds or (2 if args.quick else len(clustering.SEEDS))
    if n_seeds > len(clustering.SEEDS):
        raise ValueError(f"--seeds: at most {len(clustering.SEEDS)} "
                         f"({', '.join(map(str, clustering.SEEDS))})")
    seeds = clustering.SEEDS[:n_seeds]
    print(f"clustering: {', '.join(names)}; seeds {', '.join(map(str, seeds))}"
          + (" (quick budgets)" if args.quick else ""), flush=True)
    start = time.perf_counter()
    rows = clustering.run(names, seeds, data_dir, quick=args.quick,
                          log=lambda line: print(line, flush=True))
    total = time.perf_counter() - start
    command = "biglearn-em " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    paths = clustering.write_outputs(rows, args.out, seeds, args.quick, total, command)
    for metric, (title, _) in {**clustering.METRICS, "seconds": ("wall time (s)", 0)}.items():
        print(f"\n{title}\n{clustering.metric_table(rows, metric)}")
    print(f"\nwrote {paths['report']} and {len(paths) - 2} charts in {total / 60:.1f} min")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    reproduce = sub.add_parser("reproduce", help="run one of the paper's experiments")
    experiments = reproduce.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    g = experiments.add_parser("grid25", help="25 Gaussians on a 5 x 5 grid (generated data)")
    grid25.add_arguments(g)
    g.set_defaults(run=grid25.main)
    c = experiments.add_parser(
        "clustering", help="EM, BigLearn-EM, scikit-learn GMM and k-means on real data sets")
    c.add_argument("--dataset", default="all", metavar="NAME|all",
                   help="glass, letter, pendigits, vehicle, digits, iris, wine, a "
                   "comma-separated list of them, or all (default)")
    c.add_argument("--data-dir", default=None,
                   help="directory of the .mat files (default: $BIGLEARN_EM_DATA)")
    c.add_argument("--seeds", type=int, default=None,
                   help="use the first N of the seeds 42..46 (default 5; 2 with --quick)")
    c.add_argument("--quick", action="store_true",
                   help="smoke-test iteration budgets and 2 seeds")
    c.add_argument("--out", default="out/clustering",
                   help="directory for report.md, results.csv and the charts")
    c.set_defaults(run=_clustering)
    f = experiments.add_parser(
        "fashion-mnist", help="Fashion-MNIST (70,000 x 784) against k-means and a diagonal GMM")
    fashion_mnist.add_arguments(f)
    f.set_defaults(run=fashion_mnist.main)
    h = experiments.add_parser(
        "hard", help="hard synthetic mixtures: BigLearn-EM against restarts at equal time")
    hard.add_arguments(h)
    h.set_defaults(run=hard.main)
