"""The benchmarks run as they are: benchmarks/gpu.py (it will be run on a GPU
machine) quickly on the CPU with Fashion-MNIST files the test writes,
benchmarks/large_fit.py and benchmarks/dask_scale.py on small data (the
latter end to end from Zarr; its Parquet writer in process: the streamed fit
of Parquet folders on worker processes is test_dask.py's), and
benchmarks/missing_cost.py on small data, and issue 22's small-data
benchmarks (small_data.py, small_steps.py, model_search.py) quickly. No time is asserted."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_fashion_mnist import write_fake_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_benchmark_runs_and_writes_its_tables(tmp_path):
    pytest.importorskip(
        "torch", reason="PyTorch is not installed: pip install torch (CPU build: "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu)")
    images = tmp_path / "fashion-mnist"
    images.mkdir()
    write_fake_fashion_mnist(images, n_train=2600, n_test=400)
    out = tmp_path / "gpu.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick",
         "--repeat", "1", "--fashion-mnist", str(images), "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    for title in ("## One inner step", "## Fashion-MNIST paper protocol end to end",
                  "## Crossover of device='auto'"):
        assert title in report
    assert "| 2000, 2, 25 |" in report and "3000 x 30" in report
    assert "AUTO_GPU_MIN_WORK" in report
    # ten well-separated patterns: the protocol clusters them
    row = report.split("| 3000 x 30 |")[1].split("\n")[0].split("|")
    assert float(row[3]) > 0.9  # ACC


@pytest.mark.slow
def test_large_fit_benchmark_runs_on_a_subsample():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "large_fit.py"), "--n", "30000",
         "--search-rows", "5000", "--threads", "1"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("time ratio ")
    # restarts and views on 5,000 rows, refinement and polish on all 30,000:
    # separated blobs, at least scikit-learn's training likelihood
    difference = float(last.split("LL difference ")[1].split()[0])
    assert difference >= -1e-9


@pytest.mark.slow
def test_dask_scale_benchmark_runs_small(tmp_path):
    fmt = "zarr"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dask_scale.py"), "--n", "40000",
         "--slice", "10000", "--steps", "3", "--format", fmt, "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"wrote 40000 x 16 float64 (0.01 GB) as {fmt}" in out
    for kind in ("em", "views"):
        row = out.split(f"| {kind} |")[1].split("\n")[0].split("|")
        assert float(row[0]) > 0 and float(row[1]) > 0 and row[2].strip().endswith("x")
    # the peak memory of the client, the scheduler, the in-memory child and both workers
    assert "client " in out and "in-memory fit " in out and out.count("  worker tcp://") == 2


def test_dask_scale_benchmark_writes_parquet_blocks_that_read_back(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow", reason='pip install -e ".[test]"')
    from biglearn_em.io import open_lazy

    spec = importlib.util.spec_from_file_location("dask_scale",
                                                  ROOT / "benchmarks" / "dask_scale.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "BLOCK_ROWS", 1000)  # blocks of 1,000 rows, not 1,000,000
    path = tmp_path / "mixture.parquet"
    bench.write(path, 2500, "parquet")
    assert sorted(p.name for p in path.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    X, names = open_lazy(path, "parquet")
    assert X.shape == (2500, bench.D) and X.dtype == np.float64
    assert names == [f"x{j}" for j in range(bench.D)]
    np.testing.assert_array_equal(X.compute(), np.vstack([bench.block(0, 1000),
                                                          bench.block(1, 1000),
                                                          bench.block(2, 500)]))


@pytest.mark.slow
def test_missing_cost_benchmark_runs_small():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "missing_cost.py"), "--smoke", "--threads",
         "1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("N = 2000, D = 4, K = 3;") and "(MCAR)" in lines[0]
    # 30% MCAR of 4 columns: about 30% gone, and the 15 non-empty patterns all occur
    assert 0.27 < float(lines[0].split("; ")[1].split("%")[0]) / 100 < 0.33
    assert lines[0].endswith("15 missingness patterns")
    seconds = {}
    for kind in ("complete data", "incomplete data"):
        line = next(t for t in lines if t.startswith(f"{kind}:"))
        seconds[kind] = float(line.split(":")[1].split(" s,")[0])
        assert float(line.split("peak")[1].split("MiB")[0]) > 0
    ratio = float(lines[-1].split("time ratio ")[1].split()[0])
    # the seconds are printed to 1 ms: the ratio of the printed values is near the ratio
    assert ratio == pytest.approx(seconds["incomplete data"] / seconds["complete data"],
                                  rel=0.05, abs=0.15)
    assert lines[-3].startswith("time per EM step ratio ")
    assert lines[-1].endswith(("(target <= 3: met)", "(target <= 3: not met)"))
    assert lines[-2].startswith("memory ratio ")


def test_model_search_benchmark_runs_and_prints_its_table():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "model_search.py"), "--quick", "--jobs", "1",
         "--designs", "3,5,3,3"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| scikit-learn n_init=10 | " in out and "| biglearn-em nested, 1 process | " in out
    assert "R not installed here" in out and "| 3,5,3,3 | " in out
    # K = 1..4: the nested rows never fall in K
    assert out.count("| 0.0e+00 |") >= 3


@pytest.mark.slow
def test_small_data_benchmark_prints_one_row_per_k():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "small_data.py"), "--components", "1,2",
         "--repeat", "1", "--seeds", "1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines()
            if line.startswith("| ") and line[2].isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2]
    # K = 1 is one pass (one EM step) and reaches scikit-learn's likelihood exactly
    assert rows[0][2].strip() == "1"
    assert float(rows[0][9]) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.slow
def test_small_steps_benchmark_prints_the_target_and_every_type():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "small_steps.py"), "--repeat", "2"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for kind in ("joint", "rotated", "advance"):
        assert any(line.strip().startswith(kind) and "ms" in line for line in out.splitlines())
    assert "target 0.85 ms" in out
    for covariance_type in ("full", "tied", "diag", "spherical"):
        assert any(line.strip().startswith(covariance_type) for line in out.splitlines())
