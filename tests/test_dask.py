"""What only the Dask backend has: the passes run on the blocks (on Dask's
threads and on the session's LocalCluster of worker processes), lazy
predictions, the data staying on the workers, a worker killed in the middle
of a fit, the start of large data on a sample, errors that only dask input
can raise, and the command line's streaming of Parquet folders and Zarr
arrays. The core behaviour (the fit of NumPy for every strategy, float32,
predictions, checkpoints, errors on bad input) runs on Dask through the
``backend`` fixture: test_backends.py."""

import os
import signal
import threading
import tracemalloc

import numpy as np
import pytest

from biglearn_em import BigLearnGaussianMixture
from biglearn_em._kinds import is_dask_array
from conftest import DASK_MISSING
from test_backends import STRATEGIES, assert_same_model

dask = pytest.importorskip("dask", reason=DASK_MISSING)
da = pytest.importorskip("dask.array", reason=DASK_MISSING)
distributed = pytest.importorskip("distributed", reason=DASK_MISSING)

#: What "the same model" means across the order of the sums (float64).
TOL = 1e-8


def mixture_block(block_id, rows: int, D: int, seed: int) -> np.ndarray:
    """Rows of a block of a 4-component mixture, from the block's own seed:
    data generated where the block is computed (on a worker), never on the client."""
    rng = np.random.default_rng([seed, block_id[0]])
    centres = np.random.default_rng(seed).normal(0.0, 4.0, (4, D))
    labels = rng.integers(0, 4, rows)
    return centres[labels] + rng.normal(0.0, 1.0 + 0.3 * labels[:, None], (rows, D))


def lazy_mixture(n_blocks: int, rows: int, D: int, seed: int = 0):
    """A lazily generated mixture, (n_blocks * rows, D), float64."""
    return da.map_blocks(mixture_block, rows=rows, D=D, seed=seed,
                         chunks=((rows,) * n_blocks, (D,)), dtype=np.float64)


@pytest.fixture(scope="module")
def data():
    X = lazy_mixture(6, 1500, 4).compute()
    return X, da.from_array(X, chunks=(1000, 4))  # blocks that do not align with the chunks


class BlockTasks(dask.callbacks.Callback):
    """Counts the tasks that ran a part of a pass (threads scheduler)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        if str(key[0] if isinstance(key, tuple) else key).startswith("_on_block"):
            self.count += 1


@pytest.mark.parametrize("kind", STRATEGIES)
def test_every_pass_runs_on_the_blocks_on_threads(data, kind):
    # the model is NumPy's: test_backends.py::test_every_strategy_gives_numpys_model[dask-*]
    _, Xd = data
    with dask.config.set(scheduler="threads"), BlockTasks() as tasks:
        model = BigLearnGaussianMixture(4, random_state=0, **STRATEGIES[kind]).fit(Xd)
    # every pass over all rows ran on the blocks (9 of them): 3 for the
    # standardisation, then at least one per EM step on all rows
    # (the default strategy's restarts, moves and views run on the search rows,
    # gathered here: its refinement and polish run on all rows)
    full_steps = sum(1 for r in model.history_ if r["kind"] in ("polish", "refine")
                     or kind != "default")
    assert tasks.count >= 9 * (3 + full_steps)
    assert tasks.count % 9 == 0


def test_predictions_are_lazy(data):
    # their values are NumPy's: test_backends.py::test_predictions_of_backend_input_are_numpys
    X, Xd = data
    model = BigLearnGaussianMixture(4, random_state=0, max_iter=5).fit(X)
    with dask.config.set(scheduler="threads"), BlockTasks() as tasks:
        labels, proba, density = (model.predict(Xd), model.predict_proba(Xd),
                                  model.score_samples(Xd))
        assert tasks.count == 0  # nothing computed yet
        assert all(is_dask_array(a) for a in (labels, proba, density))
        assert labels.chunks == (Xd.chunks[0],) and proba.chunks == (Xd.chunks[0], (4,))
        np.testing.assert_array_equal(labels.compute(), model.predict(X))
        assert tasks.count == 9  # one task per block


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["biglearn", "plain"])
def test_fit_on_the_local_cluster_matches_the_in_memory_fit(data, cluster, kind):
    X, Xd = data
    settings = dict(STRATEGIES[kind], max_iter=min(10, STRATEGIES[kind]["max_iter"]))
    reference = BigLearnGaussianMixture(4, random_state=0, **settings).fit(X)
    with distributed.get_task_stream(cluster) as stream:
        model = BigLearnGaussianMixture(4, random_state=0, **settings).fit(Xd)
    assert_same_model(reference, model, TOL)
    # the parts of the passes ran on both worker processes
    ran = [t["worker"] for t in stream.data if str(t["key"]).startswith("('_on_block")
           or str(t["key"]).startswith("_on_block")]
    assert len(ran) >= 9 * model.n_iter_ and len(set(ran)) == 2


def _client_peak(Xd) -> int:
    """The traced peak of this process's Python allocations (the client's, and
    the LocalCluster's scheduler's) during a fit of Xd."""
    tracemalloc.start()
    try:
        model = BigLearnGaussianMixture(4, random_state=0, max_iter=2).fit(Xd)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(model.lower_bound_) and model.n_iter_ > 0
    return peak


@pytest.mark.slow
def test_the_client_never_holds_the_data(cluster):
    # 4 MB and 40 MB generated on the workers (50,000 and 500,000 rows x 10 in
    # 10 blocks): the client holds the parameters and the search rows the
    # default strategy gathers (20,000 rows for both), never the data, so its
    # peak does not grow with them
    small, large = lazy_mixture(10, 5_000, 10, seed=3), lazy_mixture(10, 50_000, 10, seed=3)
    assert (small.nbytes, large.nbytes) == (4_000_000, 40_000_000)
    peaks = [_client_peak(Xd) for Xd in (small, large)]
    growth = peaks[1] - peaks[0]
    assert growth < 0.1 * (large.nbytes - small.nbytes), \
        f"client peaks {peaks[0] / 1e6:.1f} MB and {peaks[1] / 1e6:.1f} MB"


@pytest.mark.slow
def test_killing_a_worker_mid_fit_gives_the_in_memory_result(cluster):
    # 20,000 rows: the start is computed on all of them, as in memory (see the next test)
    Xd = lazy_mixture(8, 2500, 4, seed=1)
    X = Xd.compute()
    settings = dict(STRATEGIES["biglearn"], max_iter=12)
    reference = BigLearnGaussianMixture(4, random_state=0, **settings).fit(X)
    # a worker of the session's cluster: its nanny starts a new one after the
    # kill (the next test to take the cluster waits for it)
    pids = list(cluster.run(os.getpid).values())
    killed, after = [], []

    def kill_during_the_next_pass(record):
        if record["kind"] != "polish" and record["iteration"] == 3 and not killed:
            # a real process kill, while the next pass is under way
            timer = threading.Timer(0.02, os.kill, (pids[0], signal.SIGKILL))
            timer.start()
            killed.append(timer)
        elif killed:
            after.append(record)

    model = BigLearnGaussianMixture(4, random_state=0, callback=kill_during_the_next_pass,
                                    **settings).fit(Xd)
    killed[0].join()
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)
    assert len(after) > 5  # the fit went on for many iterations after the kill
    assert_same_model(reference, model, TOL)


@pytest.mark.slow
def test_large_data_start_on_a_sample_and_given_starts_agree():
    # 30,000 > max(20,000, 50 K D) rows with search_rows=None: the start of a
    # dask array is computed on a sample of 20,000 rows, not on all rows as in
    # memory; a given start is the same everywhere, and so is the fit from it
    Xd = lazy_mixture(12, 2500, 4, seed=1)
    X = Xd.compute()
    given = BigLearnGaussianMixture(4, random_state=0, max_iter=3).fit(X)
    start = {"weights_init": given.weights_, "means_init": given.means_,
             "precisions_init": given.precisions_}
    settings = dict(STRATEGIES["biglearn"], max_iter=25, random_state=0)
    with dask.config.set(scheduler="threads"):
        assert_same_model(BigLearnGaussianMixture(4, **start, **settings).fit(X),
                          BigLearnGaussianMixture(4, **start, **settings).fit(Xd), TOL)
        sampled = BigLearnGaussianMixture(4, **settings).fit(Xd)
    # from the sample's start: a model as good as the in-memory one (same data, same optimum)
    in_memory = BigLearnGaussianMixture(4, **settings).fit(X)
    assert sampled.score(X) == pytest.approx(in_memory.score(X), abs=1e-3)


def test_bad_dask_input_gets_clear_errors(data):
    # the errors of any backend's input (NaN, 1-D, complex, features):
    # test_backends.py::test_bad_input_gets_the_same_clear_errors
    X, Xd = data
    unknown = Xd[Xd[:, 0] > -np.inf]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        BigLearnGaussianMixture(2).fit(unknown)
    with pytest.raises(ValueError, match="device='cuda'.*dask array"):
        BigLearnGaussianMixture(2, device="cuda").fit(Xd)
    with pytest.raises(TypeError, match="Dask collection other than a dask array"):
        BigLearnGaussianMixture(2).fit(dask.delayed(X))
    with dask.config.set(scheduler="threads"):
        bad = da.where(da.arange(len(X))[:, None] == 4000, np.inf, Xd)
        with pytest.raises(ValueError, match="infinity"):
            BigLearnGaussianMixture(2).fit(bad)  # found by the fit's first passes
        model = BigLearnGaussianMixture(2, max_iter=5).fit(Xd)
        labels = model.predict(bad)  # lazy: the block holding the inf raises when computed
        with pytest.raises(ValueError, match="infinity"):
            labels.compute()
        empty = da.where(da.arange(len(X))[:, None] == 4000, np.nan, Xd)
        with pytest.raises(ValueError, match="1 row with no observed value"):
            model.predict(empty).compute()


# ---------------------------------------------------------------- command line
def run_cli(args, capsys):
    from biglearn_em.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def summary(out: str) -> list[str]:
    """The lines of a fit's summary that depend on the model, not on the file or timing."""
    return [line for line in out.splitlines()
            if line.startswith(("log-likelihood", "BIC")) or line.strip()[:1].isdigit()]


@pytest.mark.slow
def test_cli_fit_streams_parquet_folders_zarr_and_npy_with_the_in_memory_result(tmp_path,
                                                                               capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biglearn_em import load

    X = lazy_mixture(3, 1000, 3, seed=4).compute()
    np.save(tmp_path / "x.npy", X)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        rows = X[i * 1000:(i + 1) * 1000]
        pq.write_table(pa.table({f"f{j}": rows[:, j] for j in range(3)}),
                       folder / f"part-{i}.parquet", row_group_size=400)
    da.from_array(X, chunks=(700, 3)).to_zarr(str(tmp_path / "x.zarr"))
    common = ["-k", "3", "-q", "--random-state", "0"]
    code, out, err = run_cli(["fit", tmp_path / "x.npy", *common, "-o", tmp_path / "ref.npz"],
                             capsys)
    assert code == 0, err
    reference = load(tmp_path / "ref.npz")
    for i, (data, extra) in enumerate([(folder, []), (tmp_path / "x.zarr", []),
                                       (tmp_path / "x.npy", ["--stream"]),
                                       (folder, ["--workers", "2"])]):
        model_path = tmp_path / f"m{i}.npz"
        code, streamed, err = run_cli(["fit", data, *common, *extra, "-o", model_path], capsys)
        assert code == 0, err
        assert summary(streamed) == summary(out)
        assert "3000 samples x 3 features" in streamed
        model = load(model_path)
        np.testing.assert_allclose(model.means_, reference.means_, rtol=0, atol=TOL)
        np.testing.assert_allclose(model.covariances_, reference.covariances_, rtol=0, atol=TOL)
        if "--workers" in extra:
            assert "local cluster of 2 worker processes, dashboard http" in streamed
    # the Parquet folder's column names are the model's feature names
    assert list(load(tmp_path / "m0.npz").feature_names_in_) == ["f0", "f1", "f2"]


def test_cli_streaming_errors_name_the_problem(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["fit", tmp_path / "empty", "-k", "2"], capsys)
    assert code != 0 and "neither a Zarr array" in err and "parquet" in err
    (tmp_path / "x.csv").write_text("1,2\n3,4\n5,6\n")
    code, _, err = run_cli(["fit", tmp_path / "x.csv", "-k", "2", "--stream"], capsys)
    assert code != 0 and "'csv' cannot be streamed" in err
    with pytest.raises(SystemExit):
        run_cli(["fit", tmp_path / "x.csv", "-k", "2", "--workers", "0"], capsys)
    assert "expected an integer >= 1" in capsys.readouterr().err

    import pyarrow as pa
    import pyarrow.parquet as pq

    words = tmp_path / "words"
    words.mkdir()
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}), words / "p.parquet")
    code, _, err = run_cli(["fit", words, "-k", "2"], capsys)
    assert code != 0 and "column 2 ('b') has type string, not numbers" in err
    holes = tmp_path / "holes"
    holes.mkdir()
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, None, 3.0, 4.0]}),
                   holes / "p.parquet")
    code, _, err = run_cli(["fit", holes, "-k", "2"], capsys)  # found when its block is read
    assert code != 0 and "row 2 of row group 0, column 'b' is missing (null)" in err
