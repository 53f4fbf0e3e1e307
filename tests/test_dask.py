"""Fits and predictions on dask arrays: the same model as in memory, on
Dask's threads and on a LocalCluster of processes, with the data staying on
the workers, a worker killed in the middle of a fit, and a checkpoint resumed."""

import os
import signal
import threading
import tracemalloc

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream

from biglearn_em import BigLearnGaussianMixture
from biglearn_em._kinds import is_dask_array

#: The paper's algorithm (views from the start, on all rows), plain EM, and
#: the default strategy (restarts, moves and views on the gathered search rows).
SETTINGS = {
    "biglearn": {"restarts": 0, "moves": 0, "search_rows": None, "max_iter": 40},
    "plain": {"view_probs": (1.0, 0.0, 0.0), "max_iter": 100},
    "default": {},
    # restarts and moves on all rows: their starts from a gathered sample, the
    # moves' cuts from blocks streamed to the client
    "all_rows": {"search_rows": None, "restarts": 2, "restart_iter": 10, "max_iter": 40},
}
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


def assert_same_model(a, b, tol=TOL):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=0, atol=tol,
                                   err_msg=name)
    assert abs(a.lower_bound_ - b.lower_bound_) < tol
    assert a.n_iter_ == b.n_iter_
    # the same views, in the same order
    assert [(r["kind"], r["m"]) for r in a.history_] == [(r["kind"], r["m"]) for r in b.history_]


class BlockTasks(dask.callbacks.Callback):
    """Counts the tasks that ran a part of a pass (threads scheduler)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        if str(key[0] if isinstance(key, tuple) else key).startswith("_on_block"):
            self.count += 1


@pytest.mark.parametrize("kind", SETTINGS)
def test_fit_on_threads_matches_the_in_memory_fit(data, kind):
    X, Xd = data
    reference = BigLearnGaussianMixture(4, random_state=0, **SETTINGS[kind]).fit(X)
    with dask.config.set(scheduler="threads"), BlockTasks() as tasks:
        model = BigLearnGaussianMixture(4, random_state=0, **SETTINGS[kind]).fit(Xd)
    assert_same_model(reference, model)
    # every pass over all rows ran on the blocks (9 of them): 3 for the
    # standardisation, then at least one per EM step on all rows
    # (the default strategy's restarts, moves and views run on the search rows,
    # gathered here: its refinement and polish run on all rows)
    full_steps = sum(1 for r in model.history_ if r["kind"] in ("polish", "refine")
                     or kind != "default")
    assert tasks.count >= 9 * (3 + full_steps)
    assert tasks.count % 9 == 0


def test_predictions_are_lazy_and_equal_the_in_memory_ones(data):
    X, Xd = data
    model = BigLearnGaussianMixture(4, random_state=0).fit(X)
    labels, proba, density = model.predict(Xd), model.predict_proba(Xd), model.score_samples(Xd)
    assert all(is_dask_array(a) for a in (labels, proba, density))
    assert proba.chunks == (Xd.chunks[0], (4,))
    np.testing.assert_array_equal(labels.compute(), model.predict(X))
    np.testing.assert_allclose(proba.compute(), model.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(density.compute(), model.score_samples(X), rtol=1e-13)
    assert model.score(Xd) == pytest.approx(model.score(X), rel=1e-13)
    assert model.bic(Xd) == pytest.approx(model.bic(X), rel=1e-12)
    fitted = BigLearnGaussianMixture(4, random_state=0).fit(Xd)
    assert is_dask_array(fitted.labels_)
    np.testing.assert_array_equal(fitted.labels_.compute(), model.labels_)


def test_float32_dask_array_matches_float32_in_memory(data):
    X, Xd = data
    X32 = X.astype(np.float32)
    reference = BigLearnGaussianMixture(4, random_state=0, **SETTINGS["biglearn"]).fit(X32)
    with dask.config.set(scheduler="threads"):
        model = BigLearnGaussianMixture(4, random_state=0, **SETTINGS["biglearn"]).fit(
            da.from_array(X32, chunks=(2000, 4)))
    assert model.means_.dtype == np.float32
    assert_same_model(reference, model, tol=1e-5)


@pytest.fixture(scope="module")
def two_processes():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        yield cluster


@pytest.mark.parametrize("kind", ["biglearn", "plain"])
def test_fit_on_a_two_process_local_cluster_matches_the_in_memory_fit(data, two_processes,
                                                                      kind):
    X, Xd = data
    reference = BigLearnGaussianMixture(4, random_state=0, **SETTINGS[kind]).fit(X)
    with Client(two_processes) as client, get_task_stream(client) as stream:
        model = BigLearnGaussianMixture(4, random_state=0, **SETTINGS[kind]).fit(Xd)
    assert_same_model(reference, model)
    # the parts of the passes ran on both worker processes
    ran = [t["worker"] for t in stream.data if str(t["key"]).startswith("('_on_block")
           or str(t["key"]).startswith("_on_block")]
    assert len(ran) >= 9 * model.n_iter_ and len(set(ran)) == 2


def test_the_client_never_holds_the_data(two_processes):
    # 400 MB generated on the workers: 5,000,000 x 10 float64 in 20 blocks
    Xd = lazy_mixture(20, 250_000, 10, seed=3)
    assert Xd.nbytes == 400_000_000
    with Client(two_processes):
        tracemalloc.start()
        try:
            model = BigLearnGaussianMixture(4, random_state=0, max_iter=4).fit(Xd)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 0.1 * Xd.nbytes, f"client peak {peak / 1e6:.1f} MB"
    assert np.isfinite(model.lower_bound_) and model.n_iter_ > 0


def test_killing_a_worker_mid_fit_gives_the_in_memory_result():
    # 20,000 rows: the start is computed on all of them, as in memory (see the next test)
    Xd = lazy_mixture(8, 2500, 4, seed=1)
    X = Xd.compute()
    settings = dict(SETTINGS["biglearn"], max_iter=25)
    reference = BigLearnGaussianMixture(4, random_state=0, **settings).fit(X)
    with LocalCluster(n_workers=3, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
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
    assert_same_model(reference, model)


def test_large_data_start_on_a_sample_and_given_starts_agree():
    # 30,000 > max(20,000, 50 K D) rows with search_rows=None: the start of a
    # dask array is computed on a sample of 20,000 rows, not on all rows as in
    # memory; a given start is the same everywhere, and so is the fit from it
    Xd = lazy_mixture(12, 2500, 4, seed=1)
    X = Xd.compute()
    given = BigLearnGaussianMixture(4, random_state=0, max_iter=3).fit(X)
    start = {"weights_init": given.weights_, "means_init": given.means_,
             "precisions_init": given.precisions_}
    settings = dict(SETTINGS["biglearn"], max_iter=25, random_state=0)
    with dask.config.set(scheduler="threads"):
        assert_same_model(BigLearnGaussianMixture(4, **start, **settings).fit(X),
                          BigLearnGaussianMixture(4, **start, **settings).fit(Xd))
        sampled = BigLearnGaussianMixture(4, **settings).fit(Xd)
    # from the sample's start: a model as good as the in-memory one (same data, same optimum)
    in_memory = BigLearnGaussianMixture(4, **settings).fit(X)
    assert sampled.score(X) == pytest.approx(in_memory.score(X), abs=1e-3)


class Stop(Exception):
    pass


def test_interrupted_dask_fit_resumes_from_its_checkpoint(data, tmp_path):
    X, Xd = data
    path = tmp_path / "fit.ckpt"
    settings = dict(SETTINGS["biglearn"], random_state=2)
    reference = BigLearnGaussianMixture(4, **settings).fit(X)

    def stop(record):
        if record["iteration"] == 12:
            raise Stop

    with dask.config.set(scheduler="threads"):
        with pytest.raises(Stop):
            BigLearnGaussianMixture(4, checkpoint=path, checkpoint_interval=0, callback=stop,
                                    **settings).fit(Xd)
        assert path.exists()
        resumed = BigLearnGaussianMixture(4, checkpoint=path, **settings).fit(Xd)
        # other data (one value changed) do not resume from it
        changed = Xd.copy()
        changed[0, 0] = 99.0
        with pytest.raises(ValueError, match="checkpoint"):
            BigLearnGaussianMixture(4, checkpoint=path, **settings).fit(changed)
    assert_same_model(reference, resumed)


def test_bad_dask_input_gets_clear_errors(data):
    X, Xd = data
    with pytest.raises(ValueError, match="2-dimensional dask array"):
        BigLearnGaussianMixture(2).fit(Xd[:, 0])
    unknown = Xd[Xd[:, 0] > -np.inf]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        BigLearnGaussianMixture(2).fit(unknown)
    with pytest.raises(ValueError, match="Complex"):
        BigLearnGaussianMixture(2).fit(Xd + 1j)
    with pytest.raises(ValueError, match="device='cuda'.*dask array"):
        BigLearnGaussianMixture(2, device="cuda").fit(Xd)
    with pytest.raises(TypeError, match="Dask collection other than a dask array"):
        BigLearnGaussianMixture(2).fit(dask.delayed(X))
    with dask.config.set(scheduler="threads"):
        bad = da.where(da.arange(len(X))[:, None] == 4000, np.nan, Xd)
        with pytest.raises(ValueError, match="NaN or infinity"):
            BigLearnGaussianMixture(2).fit(bad)
        model = BigLearnGaussianMixture(2, max_iter=5).fit(Xd)
        with pytest.raises(ValueError, match="3 features"):
            model.predict(Xd[:, :3])
        labels = model.predict(bad)  # lazy: the block holding the NaN raises when computed
        with pytest.raises(ValueError, match="NaN or infinity"):
            labels.compute()


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
