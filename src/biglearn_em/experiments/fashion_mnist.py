"""Fashion-MNIST (70,000 x 784, 10 classes): BigLearn-EM against k-means and a
diagonal scikit-learn mixture, by clustering accuracy and NMI of the final
model (never the best iteration picked with labels). With
``--covariance-types``, BigLearn-EM and scikit-learn's ``GaussianMixture`` of
each diagonal or spherical type fitted from one shared start
(:mod:`.equal_start`) replace the full-covariance BigLearn-EM fit."""

from __future__ import annotations

import gzip
import resource
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from ..commands.options import covariance_types_argument
from ..datasets import minmax_scale
from ..engine import COVARIANCE_TYPES
from ..metrics import clustering_scores
from ..mixture import BigLearnGaussianMixture
from ..progress import Progress
from . import equal_start, report

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
#: The original script's settings: K = 10, 70 outer x 5 inner, eps = 0.05, a = 1/K.
ORIGINAL: dict[str, Any] = {
    "n_components": 10, "max_iter": 70, "n_inner": 5, "eig_floor": 0.05,
    "weight_smoothing": 0.1, "patience": None, "view_probs": (0.4, 0.1, 0.5),
    "update": "block", "restarts": 0, "moves": 0}

#: The covariance types of ``--covariance-types``, and what full and tied cost.
TYPES = COVARIANCE_TYPES
TYPES_COST = ("at 784 dimensions full and tied covariances cost about what the default "
              "full-covariance fit costs (about 99 min) and a diagonal fit's rotated views are "
              "full in the view; with --pca 50 all four take minutes")
#: scikit-learn's side of ``--covariance-types``: its default tolerance (the
#: same as BigLearn-EM's polish) and room to converge; ``reg_covar`` is the
#: floor eps (see :func:`equal_start_rows`).
SKLEARN_SAME_START = {"max_iter": 1000, "tol": 1e-3}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a uint8 array of its stored shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: {data.size} bytes for shape {shape}")
    return data.reshape(shape)


def load(folder: str | Path = DEFAULT_DIR) -> tuple[np.ndarray, np.ndarray]:
    """All 70,000 images as (70000, 784) uint8 and their labels (70000,)."""
    folder = Path(folder)
    missing = [name for pair in FILES.values() for name in pair if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {folder} (missing {', '.join(missing)}): install it "
            "with 'apt-get install -y dataset-fashion-mnist' or pass --data-dir")
    images, labels = [], []
    for image_file, label_file in FILES.values():
        img = read_idx(folder / image_file)
        images.append(img.reshape(len(img), -1))
        labels.append(read_idx(folder / label_file).astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def prepare(X: np.ndarray, y: np.ndarray, subsample: int | None, pca: int | None,
            seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Optional random subsample, min-max scaling to [0, 1], optional PCA."""
    if subsample is not None and subsample < len(X):
        idx = np.sort(np.random.default_rng(seed).choice(len(X), subsample, replace=False))
        X, y = X[idx], y[idx]
    (X,) = minmax_scale(X)
    if pca is not None:
        X = PCA(pca, random_state=seed).fit_transform(X)
    return X, y


def add_arguments(parser) -> None:
    parser.add_argument("--data-dir", default=str(DEFAULT_DIR),
                        help=f"folder of the IDX files (default: {DEFAULT_DIR})")
    parser.add_argument("--subsample", type=int, default=None, help="use N random images")
    parser.add_argument("--pca", type=int, default=None, help="project onto DIM principal axes")
    parser.add_argument("--max-iter", type=int, default=ORIGINAL["max_iter"],
                        help="outer iterations of BigLearn-EM (original: 70)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None,
                        help="save BigLearn-EM's state here; rerunning resumes from it")
    parser.add_argument("--skip-baselines", action="store_true",
                        help="run BigLearn-EM only")
    parser.add_argument("--device", default=None,
                        help="where BigLearn-EM runs: cpu, cuda, cuda:N or auto (default: the "
                             "host); a GPU needs PyTorch: pip install torch")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                        help="precision of BigLearn-EM's data chunks (default float64)")
    parser.add_argument("--covariance-types", default=(), metavar="TYPES",
                        type=covariance_types_argument,
                        help="instead of the full-covariance BigLearn-EM fit, fit BigLearn-EM "
                        "and scikit-learn's GaussianMixture of each of these covariance types "
                        f"({', '.join(TYPES)}, comma-separated) from one shared k-means start "
                        f"(default: none, the full-covariance fit); {TYPES_COST}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--out", default="out/fashion-mnist", help="folder for report.md")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _GpuMemory:
    """Peak memory PyTorch allocates on a CUDA device during the fit (nothing
    to report on the host)."""

    def __init__(self, device) -> None:
        self.torch = None
        if device is not None and str(device).startswith(("cuda", "auto")):
            import torch

            if torch.cuda.is_available():
                self.torch = torch
                torch.cuda.reset_peak_memory_stats()

    def report(self) -> str:
        if self.torch is None:
            return ""
        peak = self.torch.cuda.max_memory_allocated() / 2**20
        name = self.torch.cuda.get_device_name()
        return f" Peak GPU memory allocated by BigLearn-EM on {name}: {peak:.0f} MiB."


def _progress(max_iter: int, label: str, quiet: bool) -> tuple[Progress, Callable]:
    """A progress bar of BigLearn-EM's outer iterations and the callback that advances it."""
    progress = Progress(max_iter, label, enabled=False if quiet else None)

    def tick(record: dict) -> None:
        if record["kind"] == "polish":
            progress.update(0, note=f"polish {record['iteration'] - max_iter}")
        else:
            progress.update(1, note=record["kind"])
    return progress, tick


def equal_start_rows(X: np.ndarray, y: np.ndarray, args) -> list[dict]:
    """BigLearn-EM and scikit-learn's ``GaussianMixture`` of every type in
    ``args.covariance_types``, both from one shared k-means start per type.

    BigLearn-EM runs :data:`ORIGINAL` with ``--max-iter``, ``--device`` and
    ``--dtype``; scikit-learn runs :data:`SKLEARN_SAME_START` with
    ``reg_covar`` = BigLearn-EM's floor eps (0.05): with scikit-learn's
    default 1e-6 its variances of the pixels that are nearly constant shrink
    to about 1e-6, and its likelihood would not be comparable with one whose
    variances are floored at 0.05.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    y : ndarray of shape (N,)
        The labels, for the scores only.
    args : argparse.Namespace
        The command's options.

    Returns
    -------
    list of dict
        Per type, BigLearn-EM's then scikit-learn's row: ``method``,
        ``scores`` (:func:`clustering_scores`), ``seconds`` (the fit, the start
        not included), ``train_ll`` (mean log-likelihood of X) and
        ``start_ll`` (of the start, as each method scored it).
    """
    eps = ORIGINAL["eig_floor"]
    rows = []
    for covariance_type in args.covariance_types:
        start = equal_start.shared_start(10, covariance_type, X, args.seed, eps)
        progress, tick = _progress(args.max_iter, f"BigLearn-EM, {covariance_type}", args.quiet)
        models = {
            f"BigLearn-EM, {covariance_type}": BigLearnGaussianMixture(
                **dict(ORIGINAL, max_iter=args.max_iter), random_state=args.seed,
                callback=tick, device=args.device, dtype=args.dtype),
            f"scikit-learn GMM, {covariance_type} (same start)": GaussianMixture(
                10, n_init=1, reg_covar=eps, random_state=args.seed, **SKLEARN_SAME_START),
        }
        for name, model in models.items():
            model.set_params(**start.params())
            seconds = equal_start.timed_fit(model, X)
            if isinstance(model, BigLearnGaussianMixture):
                progress.close()
            rows.append({"method": name, "scores": clustering_scores(y, model.predict(X)),
                         "seconds": seconds, "train_ll": float(model.score(X)),
                         "start_ll": equal_start.start_log_likelihood(model, X)})
            print(f"{name}: start LL {rows[-1]['start_ll']:.3f}, train LL "
                  f"{rows[-1]['train_ll']:.3f}, {seconds:.1f} s", flush=True)
    return rows


def _results_table(rows: list[dict], with_ll: bool) -> str:
    """The results table: ACC, NMI, ARI and wall time per method, with
    ``with_ll`` also the mean training log-likelihood and that of the start."""

    header = ["method", "ACC", "NMI", "ARI"]
    if with_ll:
        header += ["mean train LL", "start train LL"]

    def ll(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"
    lines = []
    for r in rows:
        s = r["scores"]
        line = [r["method"], f"{s['acc']:.3f}", f"{s['nmi']:.3f}", f"{s['ari']:.3f}"]
        if with_ll:
            line += [ll(r.get("train_ll")), ll(r.get("start_ll"))]
        lines.append(line + [f"{r['seconds']:.1f} s"])
    return report.table(header + ["wall time"], lines)


def main(args) -> int:
    types = args.covariance_types
    if types and args.checkpoint is not None:
        raise ValueError("--checkpoint resumes the full-covariance BigLearn-EM fit, which "
                         "--covariance-types replaces: use one or the other")
    X, y = load(args.data_dir)
    X, y = prepare(X, y, args.subsample, args.pca, args.seed)
    print(f"Fashion-MNIST: {X.shape[0]} images x {X.shape[1]} features, K = 10")
    # a resumed run's wall time covers this process only: say so in the report
    resumed = args.checkpoint is not None and Path(args.checkpoint).exists()
    rows = []
    gpu = _GpuMemory(args.device)
    if types:
        rows += equal_start_rows(X, y, args)
    else:
        progress, tick = _progress(args.max_iter, "BigLearn-EM", args.quiet)
        model = BigLearnGaussianMixture(**dict(ORIGINAL, max_iter=args.max_iter),
                                        random_state=args.seed, callback=tick,
                                        checkpoint=args.checkpoint, checkpoint_interval=30.0,
                                        device=args.device, dtype=args.dtype)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = model.fit_predict(X)
        progress.close()
        rows.append({"method": "BigLearn-EM", "scores": clustering_scores(y, labels),
                     "seconds": time.perf_counter() - start})
    gpu_note = gpu.report()
    if not args.skip_baselines:
        baselines = {
            "k-means (n_init=10)": KMeans(10, n_init=10, random_state=args.seed),
            "scikit-learn GMM, diagonal": GaussianMixture(10, covariance_type="diag",
                                                          random_state=args.seed),
        }
        for name, estimator in baselines.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                pred = estimator.fit_predict(X)
            rows.append({"method": name, "scores": clustering_scores(y, pred),
                         "seconds": time.perf_counter() - start,
                         "train_ll": float(estimator.score(X)) if types and
                         isinstance(estimator, GaussianMixture) else None})
    results = _results_table(rows, with_ll=bool(types))
    memory = f"Peak resident memory of the process: {_peak_rss_mib():.0f} MiB." + gpu_note
    print(results)
    print(memory)
    if types:
        memory += "\n\n" + _types_note(types)
    used = report.table(["setting", "value"], [
        ["data", f"{X.shape[0]} x {X.shape[1]}, min-max scaled"
                 + (f", PCA to {args.pca}" if args.pca else "")],
        ["BigLearn-EM", f"K = 10, {args.max_iter} outer x 5 inner, eps = 0.05, a = 1/K, "
                        f"views {ORIGINAL['view_probs']}, {ORIGINAL['update']} rule, k-means init, "
                        "final model"],
        ["covariance", "full" if not types else
         f"{', '.join(types)}: BigLearn-EM and scikit-learn from one shared start per type"],
        ["device, dtype", f"{args.device or 'host (NumPy)'}, {args.dtype}"],
        ["seed", str(args.seed)],
        ["checkpoint", "none" if args.checkpoint is None else
         f"{args.checkpoint}" + (" (resumed: BigLearn-EM's wall time counts this process only)"
                                 if resumed else "")],
    ])
    out = report.prepare(args.out)
    path = report.write(out, "Fashion-MNIST clustering",
                        [("Results", results + "\n\n" + memory), ("Settings", used)])
    print(f"wrote {path}")
    return 0


def _types_note(types) -> str:
    """What the ``--covariance-types`` lines are, for the report."""
    return (
        f"Covariance types {', '.join(types)}: for each, ONE start shared by both methods: "
        "k-means labels drawn from the seed, then one M-step of that type with its variances "
        f"floored at eps = {ORIGINAL['eig_floor']} (`BigLearnGaussianMixture(10, "
        "covariance_type=t, max_iter=0, init_params='kmeans', eig_floor=0.05, "
        "random_state=seed)`, whose fitted arrays are its start), given to both as "
        "`weights_init`, `means_init` and `precisions_init`. 'BigLearn-EM, t' runs the "
        "settings below with `covariance_type=t`; 'scikit-learn GMM, t (same start)' is "
        "`GaussianMixture(10, covariance_type=t, n_init=1, reg_covar=0.05, "
        f"max_iter={SKLEARN_SAME_START['max_iter']}, tol={SKLEARN_SAME_START['tol']:g})` "
        "(reg_covar = eps: with the default 1e-6, the variances of nearly constant pixels "
        "shrink to about 1e-6 and the likelihoods are not comparable; the diagonal baseline "
        "keeps the default). 'start train LL' is the mean log-likelihood of the start as each "
        "method scored it (equal values: equal starts); 'mean train LL' that of the fitted "
        "model, on the same images it was fitted on (this experiment has no test split). "
        "Wall times cover the fit, not the shared start. The full-covariance BigLearn-EM fit "
        f"of the default report is not run with `--covariance-types`; {TYPES_COST}."
    )
