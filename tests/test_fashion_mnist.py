"""Fashion-MNIST reproduction on a 2,000-image subsample (CI installs the
Debian package dataset-fashion-mnist)."""

import argparse
import gzip

import numpy as np
import pytest

from biglearn_em.experiments import fashion_mnist


def _args(*argv):
    parser = argparse.ArgumentParser()
    fashion_mnist.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_debian_package_is_installed():
    X, y = fashion_mnist.load()
    assert X.shape == (70000, 784) and X.dtype == np.uint8
    assert np.array_equal(np.bincount(y), np.full(10, 7000))


def test_subsample_run_writes_a_report(tmp_path, capsys):
    args = _args("--subsample", "2000", "--pca", "20", "--max-iter", "15", "--quiet",
                 "--out", str(tmp_path), "--checkpoint", str(tmp_path / "fit.ckpt"))
    assert fashion_mnist.main(args) == 0
    out = capsys.readouterr().out
    assert "2000 images x 20 features" in out
    report = (tmp_path / "report.md").read_text()
    for method in ("BigLearn-EM", "k-means (n_init=10)", "scikit-learn GMM, diagonal"):
        assert f"| {method} |" in report
    acc = float(report.split("| BigLearn-EM | ")[1].split(" |")[0])
    assert 0.3 < acc <= 1.0  # 10 balanced classes: chance is about 0.1
    assert "Peak resident memory" in report
    assert "resumed" not in report
    # a rerun with the same checkpoint resumes the finished fit: the same model
    assert fashion_mnist.main(args) == 0
    again = (tmp_path / "report.md").read_text()
    assert again.split("| BigLearn-EM | ")[1].split(" |")[:3] == \
        report.split("| BigLearn-EM | ")[1].split(" |")[:3]
    assert "resumed: BigLearn-EM's wall time counts this process only" in again


def test_missing_data_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        fashion_mnist.load(tmp_path)


def test_read_idx_round_trip_and_truncation(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(header + images.tobytes())
    np.testing.assert_array_equal(fashion_mnist.read_idx(path), images)
    with gzip.open(path, "wb") as f:
        f.write(header + images.tobytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        fashion_mnist.read_idx(path)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        fashion_mnist.read_idx(bad)


def test_command_line(tmp_path, capsys):
    from biglearn_em.cli import main

    assert main(["reproduce", "fashion-mnist", "--subsample", "500", "--pca", "10",
                 "--max-iter", "3", "--skip-baselines", "--quiet", "--out", str(tmp_path)]) == 0
    assert "| BigLearn-EM |" in capsys.readouterr().out
    assert (tmp_path / "report.md").exists()
