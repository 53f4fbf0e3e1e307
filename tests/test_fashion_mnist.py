"""Fashion-MNIST: the IDX loader and the experiment's pipeline on small IDX
files the tests write themselves (they run everywhere), and the real 70,000
images where the Debian package is installed (CI installs it)."""

import argparse
import gzip
from pathlib import Path

import numpy as np
import pytest

from biglearn_em.experiments import fashion_mnist

SIDE = 28  # the real images' size, so the pipeline sees 784 features


def _args(*argv):
    parser = argparse.ArgumentParser()
    fashion_mnist.add_arguments(parser)
    return parser.parse_args(list(argv))


def _write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file (gzipped), as the Fashion-MNIST files are stored."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_fake_fashion_mnist(folder: Path, n_train: int, n_test: int, seed: int = 0):
    """Fashion-MNIST's four files in ``folder``: 10 classes of 28 x 28 images,
    each a fixed random pattern plus pixel noise, so the classes are clusters.

    Returns the images (n_train + n_test, 784) and labels in the order the
    loader must give them (training split first).
    """
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(10, SIDE, SIDE)).astype(float)
    images, labels = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = np.arange(n) % 10
        rng.shuffle(y)
        noisy = prototypes[y] + rng.normal(0.0, 40.0, size=(n, SIDE, SIDE))
        images[split] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        labels[split] = y.astype(np.uint8)
        image_file, label_file = fashion_mnist.FILES[split]
        _write_idx(folder / image_file, images[split])
        _write_idx(folder / label_file, labels[split])
    X = np.concatenate([images["train"], images["test"]]).reshape(n_train + n_test, -1)
    return X, np.concatenate([labels["train"], labels["test"]]).astype(np.int64)


@pytest.fixture
def fake_dir(tmp_path) -> Path:
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    write_fake_fashion_mnist(folder, n_train=1200, n_test=300)
    return folder


def test_load_reads_both_splits_in_order(tmp_path):
    X_true, y_true = write_fake_fashion_mnist(tmp_path, n_train=50, n_test=20, seed=3)
    X, y = fashion_mnist.load(tmp_path)
    assert X.shape == (70, 784) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X, X_true)
    np.testing.assert_array_equal(y, y_true)


def test_missing_data_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        fashion_mnist.load(tmp_path)
    # one file short is named
    write_fake_fashion_mnist(tmp_path, 20, 10)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        fashion_mnist.load(tmp_path)


def test_read_idx_round_trip_and_truncation(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    path = tmp_path / "x-idx3-ubyte.gz"
    _write_idx(path, images)
    np.testing.assert_array_equal(fashion_mnist.read_idx(path), images)
    with gzip.open(path, "wb") as f:
        f.write(header + images.tobytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        fashion_mnist.read_idx(path)
    plain = tmp_path / "x-idx3-ubyte"
    plain.write_bytes(header + images.tobytes())  # not gzipped
    np.testing.assert_array_equal(fashion_mnist.read_idx(plain), images)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        fashion_mnist.read_idx(bad)


def test_prepare_subsamples_scales_and_projects():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=300)
    # column 0 encodes the label, column 1 the row's position, the rest is noise
    X = np.column_stack([20.0 * y, np.arange(300.0), rng.uniform(0, 255, size=(300, 8))])
    Xs, ys = fashion_mnist.prepare(X, y, subsample=120, pca=None, seed=1)
    assert Xs.shape == (120, 10) and Xs.min() == 0.0 and Xs.max() == 1.0
    assert set(ys) == set(range(10))
    np.testing.assert_allclose(Xs[:, 0] * 9, ys)  # rows keep their labels
    assert np.all(np.diff(Xs[:, 1]) > 0)  # and their order
    np.testing.assert_array_equal(fashion_mnist.prepare(X, y, 120, None, seed=1)[0], Xs)
    assert not np.array_equal(fashion_mnist.prepare(X, y, 120, None, seed=2)[1], ys)
    Xp, yp = fashion_mnist.prepare(X, y, subsample=None, pca=4, seed=1)
    assert Xp.shape == (300, 4) and np.array_equal(yp, y)
    np.testing.assert_allclose(Xp.mean(0), 0.0, atol=1e-12)  # PCA scores are centred


def _bl_row(report: str) -> list[str]:
    """ACC, NMI and ARI of BigLearn-EM's row in a report."""
    return report.split("| BigLearn-EM | ")[1].split(" |")[:3]


def _run_pipeline(data_dir, out: Path, subsample: str, pca: str, max_iter: str) -> str:
    """The experiment at a small size with a checkpoint, then a rerun that
    resumes it; returns the first report."""
    args = _args("--data-dir", str(data_dir), "--subsample", subsample, "--pca", pca,
                 "--max-iter", max_iter, "--quiet", "--out", str(out),
                 "--checkpoint", str(out.parent / "fit.ckpt"))
    assert fashion_mnist.main(args) == 0
    report = (out / "report.md").read_text()
    for method in ("BigLearn-EM", "k-means (n_init=10)", "scikit-learn GMM, diagonal"):
        assert f"| {method} |" in report
    assert "Peak resident memory" in report and "resumed" not in report
    assert "mean train LL" not in report  # the lines of --covariance-types only
    # a rerun with the same checkpoint resumes the finished fit: the same model
    assert fashion_mnist.main(args) == 0
    again = (out / "report.md").read_text()
    assert _bl_row(again) == _bl_row(report)
    assert "resumed: BigLearn-EM's wall time counts this process only" in again
    return report


def test_pipeline_on_written_idx_files(fake_dir, tmp_path, capsys):
    report = _run_pipeline(fake_dir, tmp_path / "out", "1000", "20", "10")
    assert "1000 images x 20 features" in capsys.readouterr().out
    acc = float(_bl_row(report)[0])
    assert 0.9 <= acc <= 1.0  # ten well-separated patterns: chance is 0.1


def test_command_line_on_written_idx_files(fake_dir, tmp_path, capsys):
    from biglearn_em.cli import main

    assert main(["reproduce", "fashion-mnist", "--data-dir", str(fake_dir), "--subsample", "500",
                 "--pca", "10", "--max-iter", "3", "--skip-baselines", "--quiet",
                 "--device", "cpu", "--dtype", "float32", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| BigLearn-EM |" in out and "500 images x 10 features" in out
    report = (tmp_path / "report.md").read_text()
    assert "| k-means (n_init=10) |" not in report
    assert "| device, dtype | cpu, float32 |" in report


TYPE_LINES = ("BigLearn-EM, {}", "scikit-learn GMM, {} (same start)")


def _check_type_lines(report: str, types) -> None:
    """One line per covariance type and method, each with a start LL; the
    full-covariance BigLearn-EM line is replaced."""
    results = report.split("## Results")[1].split("## Settings")[0]
    assert "| BigLearn-EM |" not in results
    assert "| method | ACC | NMI | ARI | mean train LL | start train LL | wall time |" in report
    for t in types:
        for line in TYPE_LINES:
            assert results.count(f"| {line.format(t)} |") == 1
    assert "with --pca 50 all four take minutes" in results


def test_covariance_types_on_written_idx_files(fake_dir, tmp_path):
    out = tmp_path / "out"
    args = _args("--data-dir", str(fake_dir), "--subsample", "500", "--pca", "10",
                 "--max-iter", "3", "--quiet", "--covariance-types", "diag,spherical",
                 "--out", str(out))
    assert args.covariance_types == ("diag", "spherical")
    assert fashion_mnist.main(args) == 0
    report = (out / "report.md").read_text()
    _check_type_lines(report, args.covariance_types)
    for method in ("k-means (n_init=10)", "scikit-learn GMM, diagonal"):
        assert f"| {method} |" in report  # the baselines stay


def test_covariance_types_start_from_the_same_parameters(fake_dir):
    X, y = fashion_mnist.load(fake_dir)
    X, y = fashion_mnist.prepare(X, y, subsample=400, pca=8, seed=0)
    args = _args("--max-iter", "2", "--quiet", "--covariance-types", "spherical,diag")
    rows = fashion_mnist.equal_start_rows(X, y, args)
    assert [r["method"] for r in rows] == [line.format(t) for t in ("spherical", "diag")
                                           for line in TYPE_LINES]
    for ours, theirs in zip(rows[::2], rows[1::2]):
        # each method scored the start it was given: the same likelihood
        assert abs(ours["start_ll"] - theirs["start_ll"]) < 1e-9 * abs(ours["start_ll"])
        assert np.isfinite([ours["train_ll"], theirs["train_ll"]]).all()


def test_bad_covariance_type_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _args("--covariance-types", "diag,banded")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown covariance type 'banded'" in err
    assert "full, tied, diag, spherical" in err


def test_covariance_types_refuse_a_checkpoint(tmp_path):
    args = _args("--covariance-types", "diag", "--checkpoint", str(tmp_path / "c"))
    with pytest.raises(ValueError, match="--checkpoint"):
        fashion_mnist.main(args)


# ------------------------------------------------ the real data, where installed
INSTALLED = all((fashion_mnist.DEFAULT_DIR / name).is_file()
                for pair in fashion_mnist.FILES.values() for name in pair)
real_data = pytest.mark.skipif(
    not INSTALLED,
    reason=f"Fashion-MNIST is not in {fashion_mnist.DEFAULT_DIR}: install it with "
           "'apt-get install -y dataset-fashion-mnist' (CI does)")


@real_data
def test_the_debian_package_loads_all_70000_images():
    X, y = fashion_mnist.load()
    assert X.shape == (70000, 784) and X.dtype == np.uint8
    assert np.array_equal(np.bincount(y), np.full(10, 7000))


@real_data
def test_pipeline_on_the_real_images(tmp_path):
    report = _run_pipeline(fashion_mnist.DEFAULT_DIR, tmp_path / "out", "2000", "20", "15")
    acc = float(_bl_row(report)[0])
    assert 0.3 < acc <= 1.0  # 10 balanced classes: chance is about 0.1


@real_data
def test_covariance_types_on_the_real_images(tmp_path):
    out = tmp_path / "out"
    args = _args("--subsample", "2000", "--pca", "20", "--max-iter", "5", "--quiet",
                 "--skip-baselines", "--covariance-types", "diag,spherical", "--out", str(out))
    assert fashion_mnist.main(args) == 0
    report = (out / "report.md").read_text()
    _check_type_lines(report, args.covariance_types)
    for t in args.covariance_types:
        ours, theirs = (report.split(f"| {line.format(t)} | ")[1].split(" |")
                        for line in TYPE_LINES)
        assert ours[4] == theirs[4]  # the same start LL
        assert 0.2 < float(ours[0]) <= 1.0  # accuracy; chance is about 0.1
