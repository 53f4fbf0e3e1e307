"""A fit streamed from disk by a Dask cluster against the in-memory fit of a
slice, in one run.

    python benchmarks/dask_scale.py [--n 20000000] [--slice 2000000] [--workers 2]
        [--memory-limit 2GB] [--format zarr|parquet] [--dir DIR] [--steps 6]

1. Writes N rows (default 20,000,000 x 16 float64, 2.56 GB) of a 16-component
   mixture to DIR as a Zarr array (or a folder of Parquet files), generated
   block by block in a child process, unless they are there already.
2. In a child process (so that its peak memory is its own): the in-memory
   NumPy fit of the first ``--slice`` rows, read into memory.
3. On a ``LocalCluster`` of ``--workers`` processes (one thread each, each
   limited to ``--memory-limit``): the same fit of all N rows, streamed from
   disk by the workers, with this process as the client.

Both fits are plain EM (joint steps, ``tol=0``, ``--steps`` outer iterations
of ``n_inner=1`` step) and then BigLearn-EM's views (the paper's algorithm:
``restarts=0, moves=0, search_rows=None``, every step on all rows). The time
of an inner step is the median gap between consecutive iteration callbacks
(each records one step), and is compared per row: the target is a streamed
step within 1.5x the in-memory step's time per row. Also printed: the peak
memory (max RSS) of the client, the scheduler, every worker and the in-memory
child, and the client's traced peak (Python allocations, ``tracemalloc``) during the
streamed fits. Nothing here is a test; ``tests/test_benchmarks.py`` runs it small.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

K, D = 16, 16
#: Rows per block on disk: 1,000,000 x 16 float64 = 128 MB.
BLOCK_ROWS = 1_000_000
SETTINGS = {
    "em": {"view_probs": (1.0, 0.0, 0.0), "n_inner": 1, "tol": 0.0},
    "views": {"restarts": 0, "moves": 0, "search_rows": None, "n_inner": 1,
              "patience": None},
}


def block(index: int, rows: int) -> np.ndarray:
    """Block ``index`` of the mixture: 16 unit-variance blobs, means N(0, 5^2 I)."""
    centres = np.random.default_rng(0).normal(0.0, 5.0, (K, D))
    rng = np.random.default_rng([1, index])
    return centres[rng.integers(K, size=rows)] + rng.normal(size=(rows, D))


def write(path: Path, n: int, fmt: str) -> None:
    """The data on disk, block by block (never all in memory)."""
    rows = min(BLOCK_ROWS, n)
    if fmt == "zarr":
        import dask.array as da

        X = da.concatenate([da.from_delayed(_delayed_block(i, min(rows, n - s)),
                                            shape=(min(rows, n - s), D), dtype=np.float64)
                            for i, s in enumerate(range(0, n, rows))])
        X.to_zarr(str(path), overwrite=True, compute=True)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(range(0, n, rows)):
        b = block(i, min(rows, n - s))
        pq.write_table(pa.table({f"x{j}": b[:, j] for j in range(D)}),
                       path / f"part-{i:05d}.parquet", row_group_size=rows // 4)


def _delayed_block(i: int, rows: int):
    import dask

    return dask.delayed(block, pure=True)(i, rows)


def step_times(records: list[float]) -> float:
    """Median gap between consecutive callback times (s), skipping the first."""
    gaps = np.diff(records)[1:]
    return float(np.median(gaps))


def fit_timed(X, kind: str, steps: int) -> dict:
    from biglearn_em import BigLearnGaussianMixture

    stamps: list[float] = []
    model = BigLearnGaussianMixture(K, random_state=0, max_iter=steps,
                                    callback=lambda r: stamps.append(time.perf_counter()),
                                    **SETTINGS[kind])
    start = time.perf_counter()
    model.fit(X)
    return {"step_s": step_times(stamps[:steps]), "fit_s": time.perf_counter() - start,
            "lower_bound": model.lower_bound_}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_memory_child(args) -> None:
    """The in-memory fits of the slice; prints one JSON line."""
    from biglearn_em.io import open_lazy

    X = open_lazy(args.dir / args.name, args.format)[0][:args.slice].compute()
    out = {kind: fit_timed(X, kind, args.steps) for kind in SETTINGS}
    out["rows"] = len(X)
    out["peak_mb"] = peak_rss_mb()
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000_000)
    parser.add_argument("--slice", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--format", choices=("zarr", "parquet"), default="zarr")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the data are written (default: a temporary folder)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--child", choices=("write", "fit"), default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.name = f"mixture-{args.n}.{'zarr' if args.format == 'zarr' else 'parquet'}"
    if args.dir is None:
        args.dir = Path(tempfile.mkdtemp(prefix="dask-scale-"))
    path = args.dir / args.name
    if args.child == "write":
        start = time.perf_counter()
        write(path, args.n, args.format)
        print(f"wrote {args.n} x {D} float64 ({args.n * D * 8 / 1e9:.2f} GB) as {args.format} "
              f"to {path} in {time.perf_counter() - start:.0f} s", flush=True)
        return
    if args.child == "fit":
        in_memory_child(args)
        return

    def child(role: str) -> str:
        # in a child process: Linux keeps a process's peak RSS across fork and
        # exec, so the workers started later would inherit this one's
        return subprocess.run(
            [sys.executable, __file__, "--child", role, "--n", str(args.n), "--slice",
             str(args.slice), "--format", args.format, "--dir", str(args.dir), "--steps",
             str(args.steps)], capture_output=True, text=True, check=True).stdout

    if not path.exists():
        print(child("write").strip(), flush=True)
    local = json.loads(child("fit").strip().splitlines()[-1])

    from distributed import Client, LocalCluster

    from biglearn_em.io import open_lazy

    with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                      memory_limit=args.memory_limit, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        X = open_lazy(path, args.format)[0]
        tracemalloc.start()  # what the client's Python allocates while it fits
        streamed = {kind: fit_timed(X, kind, args.steps) for kind in SETTINGS}
        traced = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        workers = client.run(peak_rss_mb)
        scheduler = client.run_on_scheduler(peak_rss_mb)
        scheduler_here = client.run_on_scheduler(os.getpid) == os.getpid()
    client_mb = peak_rss_mb()

    print(f"\nN = {args.n} x {D}, K = {K}, from {args.format}, {args.workers} workers "
          f"(1 thread, {args.memory_limit} each); in memory: the first {local['rows']} rows")
    print("| fit | in-memory step (s) | streamed step (s) | per row: streamed / in-memory |")
    print("|---|---|---|---|")
    for kind in SETTINGS:
        a, b = local[kind]["step_s"], streamed[kind]["step_s"]
        ratio = (b / args.n) / (a / local["rows"])
        print(f"| {kind} | {a:.3f} | {b:.3f} | {ratio:.2f}x |")
    print("\npeak memory (max RSS, MB):")
    print(f"  client {client_mb:.0f} (traced Python allocations during the fits: "
          f"{traced:.1f}); scheduler {scheduler:.0f}"
          + (" (the client's process)" if scheduler_here else "")
          + f"; in-memory fit {local['peak_mb']:.0f}")
    for address, mb in workers.items():
        print(f"  worker {address}: {mb:.0f}")
    print(f"  data on disk: {args.n * D * 8 / 1e6:.0f} MB")
    print("\nwhole fits (s): " + ", ".join(
        f"{kind} in memory {local[kind]['fit_s']:.1f}, streamed {streamed[kind]['fit_s']:.1f}"
        for kind in SETTINGS))


if __name__ == "__main__":
    main()
