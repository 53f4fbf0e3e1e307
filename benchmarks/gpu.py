"""The fit on a GPU against the host, in one run.

    python benchmarks/gpu.py [--device cuda] [--fashion-mnist DIR] [--out FILE.md] [--quick]

Prints, and writes as Markdown to ``--out``:

1. One inner EM step per view kind (joint, marginal, rotated; m = 5/6 of D for
   the marginal kinds) at (N, D, K) = (2000, 2, 25), (20000, 16, 12),
   (10000, 64, 10), (5000, 256, 10) and the Fashion-MNIST size (70000, 784,
   10): this package on the device, a plain batched PyTorch EM step on the
   device (Cholesky, whitening by a product with the inverse factor, a
   K x N x D array in memory: the reference of the targets), this package's
   NumPy backend on the host's cores, and one scikit-learn EM iteration.
2. The Fashion-MNIST paper protocol end to end on the device (all 70,000
   images, min-max scaled, K = 10, 70 outer x 5 inner, block rule, floor 0.05,
   a = 1/K, the paper's views, k-means start, the final model): wall time
   (initialisation included), ACC, NMI and peak device memory. It needs the
   IDX files (``--fashion-mnist DIR``, default the Debian package's folder);
   without them the part is left out, and the output says so.
3. The crossover of ``device="auto"``: the joint step on the device and on
   the host at growing work per step (N K D^2), and the smallest work from
   which the device is faster, beside the value the package uses.

Needs only this package, torch, NumPy, SciPy and scikit-learn. On one H200 it
takes about 3-4 minutes; ``--quick`` (small sizes; 3,000 images on 30
principal axes, 10 outer iterations) runs anywhere, the CPU included
(``--device cpu``), in under a minute.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_info

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.backends import AUTO_GPU_MIN_WORK, NumpyBackend, one_blas_pool, select_backend
from biglearn_em.engine import Data, Params, Settings, View, haar_frame, joint_view, view_step
from biglearn_em.experiments import fashion_mnist
from biglearn_em.metrics import clustering_scores

SIZES = [(2000, 2, 25), (20000, 16, 12), (10000, 64, 10), (5000, 256, 10), (70000, 784, 10)]
QUICK_SIZES = [(2000, 2, 25), (4000, 16, 12), (2000, 64, 10)]
CROSSOVER = [(1000, 2, 5), (2000, 4, 10), (5000, 8, 10), (10000, 8, 12), (20000, 16, 12),
             (20000, 32, 12), (50000, 32, 16)]
QUICK_CROSSOVER = [(1000, 2, 5), (2000, 4, 10), (5000, 8, 10)]


def make_data(rng: np.random.Generator, N: int, D: int, K: int) -> np.ndarray:
    centers = rng.normal(0, 3, (K, D))
    return centers[rng.integers(K, size=N)] + rng.normal(size=(N, D))


class Timer:
    """Wall time of a call on ``device``, synchronised, best of ``repeat``
    after one warm-up call."""

    def __init__(self, device: torch.device, repeat: int) -> None:
        self.device, self.repeat = device, repeat

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def best(self, fn, repeat: int | None = None) -> float:
        if repeat != 1:  # a single long call needs no warm-up
            fn()
            self.sync()
        times = []
        for _ in range(repeat or self.repeat):
            start = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - start)
        return min(times)


def our_steps(X: np.ndarray, K: int, backend, timer: Timer, rng: np.random.Generator,
              kinds=("joint", "marginal", "rotated")) -> dict[str, float]:
    """One inner step of this package per view kind, on ``backend``."""
    N, D = X.shape
    data = Data.from_array(X, None, backend, K)
    start = data.rows(np.sort(rng.choice(N, K, replace=False)))
    params = Params(backend.asarray(np.full(K, 1 / K)), backend.asarray(backend.to_numpy(start)),
                    backend.asarray(np.broadcast_to(np.eye(D), (K, D, D)).copy()))
    settings = Settings((0.4, 0.1, 0.5), (5.0, 1.0), 5, 1 / K, 1e-3, 0.0, "conditional", 1,
                        1e-3, None)
    m = max(1, int(D * 5 / 6))
    views = {
        "joint": joint_view(D),
        "marginal": View("marginal", D, index=np.sort(rng.choice(D, m, replace=False))),
        "rotated": View("rotated", D, basis=haar_frame(rng, D, m).T),
    }
    repeat = 1 if N * K * D * D > 1e11 and backend.name == "numpy" else None
    return {kind: timer.best(lambda v=views[kind]: view_step(data, params, v, settings, 1 / K),
                             repeat) for kind in kinds}


def plain_torch_step(X: torch.Tensor, K: int, timer: Timer) -> float:
    """A plain batched full-covariance EM step in PyTorch: the reference."""
    N, D = X.shape
    g = torch.Generator(device="cpu").manual_seed(0)
    means = X[torch.randperm(N, generator=g)[:K].to(X.device)].clone()
    covs = torch.eye(D, dtype=X.dtype, device=X.device).expand(K, D, D).clone()
    weights = torch.full((K,), 1.0 / K, dtype=X.dtype, device=X.device)
    eye = torch.eye(D, dtype=X.dtype, device=X.device)

    def step():
        lower = torch.linalg.cholesky(covs)
        inv_lower = torch.linalg.solve_triangular(lower, eye.expand(K, D, D), upper=False)
        diff = X[None] - means[:, None]                      # K x N x D
        z = diff @ inv_lower.mT
        log_det = 2 * torch.log(torch.diagonal(lower, dim1=-2, dim2=-1)).sum(-1)
        log_p = torch.log(weights)[:, None] - 0.5 * (D * np.log(2 * np.pi) + log_det)[:, None] \
            - 0.5 * (z * z).sum(-1)
        resp = torch.softmax(log_p, dim=0)                   # K x N
        nk = resp.sum(1)
        new_means = resp @ X / nk[:, None]
        centred = X[None] - new_means[:, None]
        new_covs = (resp[:, :, None] * centred).mT @ centred / nk[:, None, None]
        return nk / N, new_means, new_covs + 1e-6 * eye

    return timer.best(step)


def sklearn_iteration(X: np.ndarray, K: int, repeat: int) -> float:
    """One EM iteration of scikit-learn's GaussianMixture: (fit of 1 + n iterations -
    fit of 1) / n from the same cheap start, n = 1 at the largest size, else 10."""
    N, D = X.shape
    n = 1 if N * K * D * D > 1e10 else 10

    def fit(n_iter: int) -> float:
        best = np.inf
        for _ in range(1 if n == 1 else repeat):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                GaussianMixture(K, covariance_type="full", max_iter=n_iter, tol=0,
                                init_params="random_from_data", random_state=0).fit(X)
            best = min(best, time.perf_counter() - start)
        return best
    return max(fit(1 + n) - fit(1), 0.0) / n


def ms(seconds: float) -> str:
    return f"{1e3 * seconds:.1f}"


def step_table(device: torch.device, sizes, timer: Timer, host_sizes, rng) -> str:
    rows = []
    header = ["N, D, K", "plain torch step", "joint", "marginal", "rotated",
              "NumPy joint (host)", "NumPy marginal", "NumPy rotated", "scikit-learn iteration"]
    for N, D, K in sizes:
        print(f"  steps at N={N} D={D} K={K} ...", flush=True)
        X = make_data(rng, N, D, K)
        Xd = torch.as_tensor(X, device=device)
        plain = plain_torch_step(Xd, K, timer)
        ours = our_steps(X, K, select_backend(device, X, n_components=K), timer, rng)
        del Xd
        cells = [f"{N}, {D}, {K}", ms(plain)]
        cells += [f"{ms(ours[k])} ({ours[k] / plain:.2f}x)" for k in ours]
        if (N, D, K) in host_sizes:
            with one_blas_pool():
                host = our_steps(X, K, NumpyBackend(), Timer(torch.device("cpu"), 1), rng)
            ref = sklearn_iteration(X, K, timer.repeat)
            cells += [ms(host[k]) for k in host] + [ms(ref)]
        else:
            cells += ["-"] * 4
        rows.append(cells)
    return _markdown(header, rows)


def crossover_table(device: torch.device, sizes, timer: Timer, rng) -> tuple[str, float | None]:
    rows, crossing = [], None
    for N, D, K in sizes:
        X = make_data(rng, N, D, K)
        dev = our_steps(X, K, select_backend(device, X, n_components=K), timer, rng, ("joint",))
        with one_blas_pool():
            host = our_steps(X, K, NumpyBackend(), Timer(torch.device("cpu"), timer.repeat),
                             rng, ("joint",))
        work = N * K * D * D
        faster = dev["joint"] < host["joint"]
        if faster and crossing is None:
            crossing = work
        elif not faster:
            crossing = None  # the smallest work from which the device stays ahead
        rows.append([f"{N}, {D}, {K}", f"{work:.2g}", ms(dev["joint"]), ms(host["joint"]),
                     "device" if faster else "host"])
    return _markdown(["N, D, K", "N K D^2", "device joint (ms)", "host joint (ms)", "faster"],
                     rows), crossing


def fashion_mnist_protocol(device, folder: Path, quick: bool) -> str:
    """The paper protocol; ``quick``: 3,000 images projected on 30 principal axes
    and 10 outer iterations (a smoke test of the same code)."""
    X, y = fashion_mnist.load(folder)
    X, y = fashion_mnist.prepare(X, y, 3000 if quick else None, 30 if quick else None, 0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    settings = dict(fashion_mnist.ORIGINAL, max_iter=10 if quick else 70)
    model = BigLearnGaussianMixture(**settings, random_state=0, device=device)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = model.fit_predict(X)
    seconds = time.perf_counter() - start
    scores = clustering_scores(y, labels)
    peak = (f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
            if device.type == "cuda" else "- (not a CUDA device)")
    return _markdown(
        ["data", "protocol", "wall time (init included)", "ACC", "NMI", "peak device memory"],
        [[f"{X.shape[0]} x {X.shape[1]}", f"{settings['max_iter']} outer x 5 inner, block, "
          "eps 0.05, a = 1/K, paper views, k-means start, final model", f"{seconds:.1f} s",
          f"{scores['acc']:.3f}",
          f"{scores['nmi']:.3f}", peak]])


def _markdown(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def describe(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    pools = ", ".join(f"{i['internal_api']} {i['num_threads']} threads"
                      for i in threadpool_info() if i["user_api"] == "blas")
    return (f"Device: {device} ({name or 'CPU'}); torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch CPU threads; host BLAS: {pools}; float64.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="a torch device (default: cuda)")
    parser.add_argument("--fashion-mnist", type=Path, default=fashion_mnist.DEFAULT_DIR,
                        metavar="DIR", help="folder of the Fashion-MNIST IDX files")
    parser.add_argument("--out", type=Path, default=Path("out/gpu.md"),
                        help="Markdown file for the tables (default: out/gpu.md)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, and 3,000 images on 30 principal axes for 10 outer "
                             "iterations (a smoke test)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU machine or pass --device cpu")
    rng = np.random.default_rng(0)
    timer = Timer(device, args.repeat)
    sizes = QUICK_SIZES if args.quick else SIZES
    sections = [("Setup", describe(device))]
    print(sections[0][1])

    print("1. steps per view kind", flush=True)
    table = step_table(device, sizes, timer, set(sizes), rng)
    sections.append(("One inner step (ms; device ratios against the plain torch step)", table))
    print(table)

    print("2. Fashion-MNIST paper protocol", flush=True)
    try:
        table = fashion_mnist_protocol(device, args.fashion_mnist, args.quick)
    except FileNotFoundError as exc:
        table = f"Left out: {exc}"
    sections.append(("Fashion-MNIST paper protocol end to end", table))
    print(table)

    print("3. crossover of device='auto'", flush=True)
    table, crossing = crossover_table(device, QUICK_CROSSOVER if args.quick else CROSSOVER,
                                      timer, rng)
    verdict = (f"The device is faster from N K D^2 = {crossing:.2g} on (the package uses "
               f"AUTO_GPU_MIN_WORK = {AUTO_GPU_MIN_WORK:.2g})." if crossing is not None else
               "The device was not faster at any size measured (the package uses "
               f"AUTO_GPU_MIN_WORK = {AUTO_GPU_MIN_WORK:.2g}).")
    sections.append(("Crossover of device='auto' (joint step)", table + "\n\n" + verdict))
    print(table)
    print(verdict)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# biglearn-em on a device against the host\n\n" + "\n\n".join(
        f"## {title}\n\n{body}" for title, body in sections) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
