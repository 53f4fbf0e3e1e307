"""Fashion-MNIST (70,000 x 784, 10 classes): BigLearn-EM against k-means and a
diagonal scikit-learn mixture, by clustering accuracy and NMI of the final
model (never the best iteration picked with labels)."""

from __future__ import annotations

import gzip
import resource
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from .._progress import Progress
from ..datasets import minmax_scale
from ..metrics import clustering_scores
from ..mixture import BigLearnGaussianMixture

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
#: The original script's settings: K = 10, 70 outer x 5 inner, eps = 0.05, a = 1/K.
ORIGINAL = {"n_components": 10, "max_iter": 70, "n_inner": 5, "eig_floor": 0.05,
            "weight_smoothing": 0.1, "patience": None, "view_probs": (0.4, 0.1, 0.5),
            "update": "block", "restarts": 0, "moves": 0}


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
                             "host); a GPU needs pip install 'biglearn-em[torch]'")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                        help="precision of BigLearn-EM's data chunks (default float64)")
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


def main(args) -> int:
    from . import report

    X, y = load(args.data_dir)
    X, y = prepare(X, y, args.subsample, args.pca, args.seed)
    print(f"Fashion-MNIST: {X.shape[0]} images x {X.shape[1]} features, K = 10")
    settings = dict(ORIGINAL, max_iter=args.max_iter)
    progress = Progress(args.max_iter, "BigLearn-EM",
                        enabled=False if args.quiet else None)

    def tick(record: dict) -> None:
        if record["kind"] == "polish":
            progress.update(0, note=f"polish {record['iteration'] - args.max_iter}")
        else:
            progress.update(1, note=record["kind"])

    # a resumed run's wall time covers this process only: say so in the report
    resumed = args.checkpoint is not None and Path(args.checkpoint).exists()
    model = BigLearnGaussianMixture(**settings, random_state=args.seed, callback=tick,
                                    checkpoint=args.checkpoint, checkpoint_interval=30.0,
                                    device=args.device, dtype=args.dtype)
    rows = []
    gpu = _GpuMemory(args.device)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = model.fit_predict(X)
    gpu_note = gpu.report()
    progress.close()
    rows.append(("BigLearn-EM", clustering_scores(y, labels), time.perf_counter() - start))
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
            rows.append((name, clustering_scores(y, pred), time.perf_counter() - start))
    results = report.table(["method", "ACC", "NMI", "ARI", "wall time"], [
        [name, f"{s['acc']:.3f}", f"{s['nmi']:.3f}", f"{s['ari']:.3f}", f"{sec:.1f} s"]
        for name, s, sec in rows])
    memory = f"Peak resident memory of the process: {_peak_rss_mib():.0f} MiB." + gpu_note
    print(results)
    print(memory)
    used = report.table(["setting", "value"], [
        ["data", f"{X.shape[0]} x {X.shape[1]}, min-max scaled"
                 + (f", PCA to {args.pca}" if args.pca else "")],
        ["BigLearn-EM", f"K = 10, {args.max_iter} outer x 5 inner, eps = 0.05, a = 1/K, "
                        f"views {ORIGINAL['view_probs']}, {ORIGINAL['update']} rule, k-means init, "
                        "final model"],
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
