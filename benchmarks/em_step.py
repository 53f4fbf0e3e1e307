"""Speed of one inner EM step per view kind against one scikit-learn EM
iteration, plain-EM fits against scikit-learn's, and the peak memory of a
fit, measured in the same run.

    python benchmarks/em_step.py [--repeat R] [--quick] [--threads N] [--rule RULE]
                                 [--covariance-type TYPE]

Prints milliseconds per step and the ratio to scikit-learn's
``GaussianMixture`` iteration of the same covariance type (default full;
ratio <= 1 means at least as fast); then
plain-EM fits (``view_probs=(1, 0, 0)``, one step per iteration) and
scikit-learn's ``GaussianMixture`` from the same start on the same data, 21
and 1 iterations each, ``tol=0``: the time per iteration is the difference
over 20, and the speed-up is scikit-learn's time over ours; then the peak
traced memory of a fit at N = 200,000, D = 32, K = 16 relative to the size
of X.

Our steps run under the BLAS thread setting a fit uses
(``biglearn_em.backends.one_blas_pool``); ``--no-pool-fix`` times them with the libraries'
default threads instead, and ``--threads N`` limits every BLAS library to N
threads for the whole run (both sides).
"""

from __future__ import annotations

import argparse
import contextlib
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_info, threadpool_limits

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.backends import one_blas_pool
from biglearn_em.engine import (
    COVARIANCE_TYPES,
    Data,
    Params,
    Settings,
    View,
    covariance_type,
    haar_frame,
    joint_view,
    view_step,
)

SIZES = [(20000, 16, 12), (10000, 64, 10), (5000, 256, 10)]


def make_data(rng, N, D, K):
    centers = rng.normal(0, 3, (K, D))
    return centers[rng.integers(K, size=N)] + rng.normal(size=(N, D))


def best_of(fn, repeat: int) -> float:
    """Minimum wall time of ``repeat`` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def isotropic(K: int, D: int, variance: float, kind: str) -> np.ndarray:
    """Covariances ``variance * I`` of every component, stored as ``kind`` stores them."""
    return covariance_type(kind).from_dense(np.full(K, 1 / K),
                                            np.broadcast_to(variance * np.eye(D), (K, D, D)))


def sklearn_iteration(X, K, repeat: int, kind: str = "full") -> float:
    """One EM iteration of GaussianMixture: (fit with 11 iterations - fit with 1) / 10."""
    def fit(n_iter):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                GaussianMixture(K, covariance_type=kind, max_iter=n_iter, tol=0,
                                init_params="random_from_data", random_state=0).fit(X)
        return run
    return (best_of(fit(11), repeat) - best_of(fit(1), repeat)) / 10


def our_steps(X, K, repeat: int, rng, rule: str, kind: str = "full") -> dict[str, float]:
    """One inner step on a joint, a marginal and a rotated view (m = the mean
    view size under Beta(5, 1), about 5/6 of D)."""
    N, D = X.shape
    data = Data.from_array(X, None)
    Z = (X - data.shift) / data.scale
    params = Params(np.full(K, 1 / K), Z[rng.choice(N, K, replace=False)],
                    isotropic(K, D, 1.0, kind))
    settings = Settings((0.4, 0.1, 0.5), (5.0, 1.0), 5, 1 / K, 1e-3, 0.0, rule, 1, 1e-3, None,
                        covariance_type=kind)
    m = int(D * 5 / 6)
    views = {
        "joint": joint_view(D),
        "marginal": View("marginal", D, index=np.sort(rng.choice(D, m, replace=False))),
        "rotated": View("rotated", D, basis=haar_frame(rng, D, m).T),
    }
    return {kind: best_of(lambda v=view: view_step(data, params, v, settings, 1 / K), repeat)
            for kind, view in views.items()}


def plain_em_iterations(X, K, repeat: int, n: int = 20, kind: str = "full"
                        ) -> tuple[float, float]:
    """Seconds per iteration of our plain EM and of scikit-learn's EM, from the
    same start (uniform weights, K data points as means, isotropic precisions)."""
    rng = np.random.default_rng(1)
    D = X.shape[1]
    cov = covariance_type(kind)
    start = {"weights_init": np.full(K, 1 / K),
             "means_init": X[rng.choice(len(X), K, replace=False)],
             "precisions_init": cov.public(isotropic(K, D, 1 / X.var(0).mean(), kind))}
    ours = {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1, "eig_floor": 0}

    def per_iteration(make) -> float:
        def fit(iterations):
            def run():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    make(iterations).fit(X)
            return run
        return (best_of(fit(n + 1), repeat) - best_of(fit(1), repeat)) / n

    mine = per_iteration(lambda it: BigLearnGaussianMixture(
        K, covariance_type=kind, max_iter=it, tol=0, reg_covar=1e-6, **ours, **start))
    theirs = per_iteration(lambda it: GaussianMixture(
        K, covariance_type=kind, max_iter=it, tol=0, reg_covar=1e-6, **start))
    return mine, theirs


def peak_memory(fit) -> int:
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller memory benchmark")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads of every library for the whole run (default: theirs)")
    parser.add_argument("--no-pool-fix", action="store_true",
                        help="time our steps with the default BLAS threads, not a fit's")
    parser.add_argument("--rule", choices=("block", "conditional"), default="conditional",
                        help="write-back rule of the marginal and rotated steps")
    parser.add_argument("--covariance-type", choices=COVARIANCE_TYPES, default="full",
                        help="covariance type of every step and fit, both sides")
    args = parser.parse_args()
    with threadpool_limits(limits=args.threads):
        run(args)


def run(args) -> None:
    rng = np.random.default_rng(0)
    pools = ", ".join(f"{i['filepath'].split('/')[-1]}: {i['num_threads']}"
                      for i in threadpool_info() if i["user_api"] == "blas")
    print(f"BLAS threads: {pools}; our steps: "
          + ("default threads" if args.no_pool_fix else "as in a fit (one_blas_pool)")
          + f"; write-back rule: {args.rule}; covariance type: {args.covariance_type}")

    print("One inner step (ms) and ratio to one scikit-learn EM iteration (same covariance "
          "type)")
    print(f"{'N':>6} {'D':>4} {'K':>3} {'sklearn':>9} {'joint':>14} {'marginal':>14} "
          f"{'rotated':>14}")
    for N, D, K in SIZES:
        X = make_data(rng, N, D, K)
        ref = sklearn_iteration(X, K, args.repeat, args.covariance_type)
        with contextlib.nullcontext() if args.no_pool_fix else one_blas_pool():
            ours = our_steps(X, K, args.repeat, rng, args.rule, args.covariance_type)
        cells = " ".join(f"{1e3 * t:7.1f} ({t / ref:4.2f})" for t in ours.values())
        print(f"{N:>6} {D:>4} {K:>3} {1e3 * ref:9.1f} {cells}")

    print("\nPlain-EM fits from the same start: ms per iteration and scikit-learn's time "
          "over ours")
    print(f"{'N':>6} {'D':>4} {'K':>3} {'sklearn':>9} {'ours':>9} {'speed-up':>9}")
    for N, D, K in SIZES:
        X = make_data(rng, N, D, K)
        # each fit sets its own threads (ours runs under one_blas_pool)
        mine, theirs = plain_em_iterations(X, K, args.repeat, kind=args.covariance_type)
        print(f"{N:>6} {D:>4} {K:>3} {1e3 * theirs:9.1f} {1e3 * mine:9.1f} "
              f"{theirs / mine:8.2f}x")

    N, D, K = (50_000, 32, 16) if args.quick else (200_000, 32, 16)
    X = make_data(rng, N, D, K)
    kind = args.covariance_type
    ours = peak_memory(lambda: BigLearnGaussianMixture(K, covariance_type=kind, max_iter=5,
                                                       patience=None, random_state=0).fit(X))
    ref = peak_memory(lambda: GaussianMixture(K, covariance_type=kind, max_iter=5,
                                              random_state=0).fit(X))
    print(f"\nPeak traced memory of a fit at N={N}, D={D}, K={K} (X = {X.nbytes / 2**20:.1f} MiB):")
    print(f"  biglearn-em  {ours / 2**20:8.1f} MiB = {ours / X.nbytes:.2f} x X   (target < 3)")
    print(f"  scikit-learn {ref / 2**20:8.1f} MiB = {ref / X.nbytes:.2f} x X")


if __name__ == "__main__":
    main()
