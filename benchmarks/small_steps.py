"""Cost of EM steps on small data, where per-call overhead (Python, NumPy's
dispatch) rather than arithmetic sets the time (issue 22, "cheap small steps").

    python benchmarks/small_steps.py [--repeat R]

Prints, on one BLAS thread (``one_blas_pool``, as in a fit), best of
``--repeat`` rounds:

- grid25's outer iteration: 5 inner steps (``engine.view_step``) on a joint
  and on a rotated view of a 2,000 x 2 grid of 25 blobs, K = 25, full
  covariances, beside the 0.85 ms target;
- grid25's outer iteration as a fit runs it: ``engine.advance`` in the views
  phase (view_probs (0.4, 0.1, 0.5), the paper's grid25 setting: on 2-D data a
  marginal or rotated view has m = 1, or m = 0 and no steps), on
  ``datasets.make_grid25(0)``;
- one step at K = 3 on 272 x 2 (the size of Old Faithful; two blobs drawn
  here), per covariance type and view kind (on 2-D data a marginal view has
  one coordinate).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from biglearn_em import BigLearnGaussianMixture, engine
from biglearn_em.backends import one_blas_pool
from biglearn_em.datasets import make_grid25
from biglearn_em.engine import View, haar_frame, joint_view, view_step
from biglearn_em.fitting import Fit

#: grid25's outer iteration, ms (issue 22).
TARGET_MS = 0.85


def best_of(fn, repeat: int, inner: int) -> float:
    """Minimum over ``repeat`` rounds of the mean wall time of ``inner`` calls,
    in seconds (after a warm-up round): the machine is shared, the minimum is
    the cost without interference."""
    for _ in range(inner):
        fn()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def prepared(X: np.ndarray, K: int, covariance_type: str):
    """The fit's data, its first parameters and its settings."""
    fit = Fit.prepare(BigLearnGaussianMixture(K, covariance_type=covariance_type,
                                              random_state=0), X)
    return fit.data, fit.initial_state(fit.data).params, fit.settings


def views(rng: np.random.Generator, D: int) -> dict[str, View]:
    m = max(1, D // 2)
    return {"joint": joint_view(D),
            "marginal": View("marginal", D, index=np.sort(rng.choice(D, m, replace=False))),
            "rotated": View("rotated", D, basis=haar_frame(rng, D, m).T)}


def one_step(data, params, settings, view):
    return lambda: view_step(data, params, view, settings, 1 / params.weights.shape[0])


def advancing():
    """One outer iteration of a fit of grid25 in the views phase, as the loop
    runs it (views drawn from the fit's generator, history records, snapshots):
    restarts and moves off and no patience, so that the views go on."""
    model = BigLearnGaussianMixture(25, restarts=0, moves=0, patience=None, max_iter=10**6,
                                    view_probs=(0.4, 0.1, 0.5), random_state=0)
    fit = Fit.prepare(model, make_grid25(0)[0])
    state = fit.initial_state(fit.data)
    return lambda: engine.advance(fit.data, state, fit.settings, fit.rng)


def grid25() -> np.ndarray:
    rng = np.random.default_rng(0)
    g = np.stack(np.meshgrid(np.arange(5), np.arange(5)), -1).reshape(-1, 2) * 3.0
    return g[rng.integers(25, size=2000)] + rng.normal(size=(2000, 2))


def faithful_sized() -> np.ndarray:
    """272 x 2, two elongated blobs (Old Faithful's size and rough shape)."""
    rng = np.random.default_rng(1)
    a = rng.normal([2.0, 55.0], [0.3, 6.0], size=(97, 2))
    b = rng.normal([4.3, 80.0], [0.4, 6.0], size=(175, 2))
    return np.concatenate([a, b])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with one_blas_pool():
        data, params, settings = prepared(grid25(), 25, "full")

        def outer(view):
            def run():
                p = params
                for _ in range(5):
                    p = view_step(data, p, view, settings, 0.04)[0]
            return run

        print("grid25 outer iteration (2000 x 2, K = 25, full, 5 inner steps, one thread):")
        # a rotated view of 2-D data has m = 1 or 2 (Beta(5, 1)): time the common m = 2
        rotated = View("rotated", 2, basis=haar_frame(rng, 2, 2).T)
        for kind, view in (("joint", joint_view(2)), ("rotated", rotated)):
            t = best_of(outer(view), args.repeat, 20)
            print(f"  {kind:<8} {1e3 * t:6.3f} ms   (target {TARGET_MS} ms: "
                  f"{t * 1e3 / TARGET_MS:4.2f} x)")
        t = best_of(advancing(), args.repeat, 50)
        print(f"  {'advance':<8} {1e3 * t:6.3f} ms   (engine.advance, views phase, "
              "view_probs (0.4, 0.1, 0.5))")

        print("\nOne step at K = 3 on 272 x 2, ms (one thread):")
        print(f"  {'type':<10} {'joint':>8} {'marginal':>9} {'rotated':>8}")
        X = faithful_sized()
        for kind in ("full", "tied", "diag", "spherical"):
            cells = []
            for view in views(np.random.default_rng(2), 2).values():
                t = best_of(one_step(*prepared(X, 3, kind), view), args.repeat, 50)
                cells.append(f"{1e3 * t:8.3f}")
            print(f"  {kind:<10} {cells[0]} {cells[1]:>9} {cells[2]}")


if __name__ == "__main__":
    main()
