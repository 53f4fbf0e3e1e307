"""The PyTorch backend, tested on the CPU: the same fit as NumPy to 1e-10,
tensors used where they live, results in the input's namespace under
array_api_dispatch, streaming, float32, k-means on the device, the GEMM-only
eigenvalue floor, portability of checkpoints and model files, and clear errors."""

import sys
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from biglearn_em import BigLearnGaussianMixture, load
from biglearn_em.backends.numpy import NumpyBackend
from biglearn_em.backends.select import select_backend
from biglearn_em.engine import kmeans as _kmeans
from biglearn_em.engine.data import Data
from biglearn_em.engine.step import ensure_positive_definite
from biglearn_em.fitting import fingerprint
from conftest import blobs

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: pip install torch (CPU build: "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu)")

from biglearn_em.backends.torch import (  # noqa: E402
    WORK_ELEMENTS,
    TorchBackend,
    clip_eigenvalues_gemm,
)

CPU = torch.device("cpu")
PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _fit(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BigLearnGaussianMixture(**kw).fit(X)


def _scaled_blobs(rng, K, D, n_per):
    X, y = blobs(rng, K, D, n_per)
    return X * rng.uniform(0.3, 2.0, D), y


@pytest.mark.parametrize("D", [6, 50])  # the batched and the per-component NumPy kernels
@pytest.mark.parametrize("rule", ["block", "conditional"])
def test_torch_cpu_and_numpy_agree_to_1e10(rule, D):
    X, _ = _scaled_blobs(np.random.default_rng(2), 4, D, 400)
    # restarts=0: k-means++ is a kernel of each backend (scikit-learn's on NumPy),
    # so restarts begin from other starts; the views are the same
    kw = dict(n_components=4, max_iter=20, patience=None, update=rule, random_state=2,
              init_params="random_from_data", restarts=0)
    ref = _fit(X, **kw)
    got = _fit(X, device=CPU, **kw)
    assert sum(h["kind"] != "polish" for h in ref.history_) == 20
    for name in PARAMS:
        assert isinstance(getattr(got, name), np.ndarray)
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=0, atol=1e-10)
    # the same views: drawn from the same NumPy generator on both backends
    assert [(h["kind"], h["m"]) for h in got.history_] == \
        [(h["kind"], h["m"]) for h in ref.history_]


def test_a_tensor_is_fitted_where_it_lives_and_numpy_comes_out(rng):
    X, _ = _scaled_blobs(rng, 3, 4, 100)
    for dtype in (torch.float64, torch.float32):
        Xt = torch.tensor(X, dtype=dtype)
        model = _fit(Xt, n_components=3, random_state=0, max_iter=30)
        expected = np.float64 if dtype == torch.float64 else np.float32
        for name in PARAMS:
            assert isinstance(getattr(model, name), np.ndarray)
            assert getattr(model, name).dtype == expected
        labels = model.predict(Xt)
        assert isinstance(labels, np.ndarray) and labels.shape == (300,)
        np.testing.assert_array_equal(labels, model.labels_)
        assert model.predict_proba(Xt).dtype == expected
        assert isinstance(model.score(Xt), float)
    # integer tensors become float64, as integer arrays do
    model = _fit(torch.tensor(np.rint(X * 10), dtype=torch.int64), n_components=2,
                 random_state=0, max_iter=10)
    assert model.means_.dtype == np.float64


def test_under_array_api_dispatch_results_are_tensors_on_the_device(rng):
    X, _ = _scaled_blobs(rng, 3, 4, 100)
    Xt = torch.from_numpy(X)
    with sklearn.config_context(array_api_dispatch=True):
        model = _fit(Xt, n_components=3, random_state=0, max_iter=30)
        for name in (*PARAMS, "precisions_"):
            value = getattr(model, name)
            assert isinstance(value, torch.Tensor) and value.device == Xt.device
            assert value.dtype == torch.float64
        for out in (model.labels_, model.predict(Xt), model.predict_proba(Xt),
                    model.score_samples(Xt), *model.sample(7)):
            assert isinstance(out, torch.Tensor) and out.device == Xt.device
        assert model.sample(7)[0].shape == (7, 4)
        with pytest.raises(ValueError, match=r"BigLearnGaussianMixture.predict\(\): X must "
                                             "use the same namespace"):
            model.predict(X)
    # the same model as without dispatch, where NumPy arrays come out
    ref = _fit(Xt, n_components=3, random_state=0, max_iter=30)
    np.testing.assert_array_equal(model.means_.numpy(), ref.means_)


def test_streamed_data_give_the_resident_result(rng):
    X, _ = _scaled_blobs(rng, 4, 5, 250)
    kw = dict(n_components=4, random_state=1, max_iter=25, chunk_size=128, device=CPU)
    resident = _fit(X, **kw)
    streamed = _fit(X, device_budget=X.nbytes // 10, **kw)
    be = TorchBackend("cpu", budget=X.nbytes // 10)
    assert isinstance(be.place(X), np.ndarray)  # left on the host
    assert isinstance(TorchBackend("cpu").place(X), torch.Tensor)
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(streamed, name), getattr(resident, name))
    assert streamed.lower_bounds_ == resident.lower_bounds_


@pytest.mark.parametrize("device", [None, CPU])
def test_float32_compute_stays_close_with_float64_statistics(rng, device):
    X, y = _scaled_blobs(rng, 4, 6, 200)
    kw = dict(n_components=4, random_state=2, max_iter=30, device=device)
    full = _fit(X, **kw)
    single = _fit(X, dtype="float32", **kw)
    assert single.means_.dtype == np.float64  # the data's dtype, not the compute dtype
    assert abs(single.lower_bound_ - full.lower_bound_) < 1e-4
    assert adjusted_rand_score(full.labels_, single.labels_) == 1.0


def test_statistics_are_float64_whatever_the_chunks(rng):
    be = TorchBackend("cpu", dtype="float32")
    Y = torch.tensor(rng.normal(size=(50, 3)), dtype=torch.float32)
    centers = torch.zeros((2, 3), dtype=torch.float64)
    wh = be.whitener(torch.tensor([0.5, 0.5], dtype=torch.float64), centers,
                     torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    stats = be.new_stats(centers)
    be.e_step(Y, wh, stats)
    for value in (stats.nk, stats.s1, stats.s2, stats.ll):
        assert value.dtype == torch.float64
    np.testing.assert_allclose(stats.nk.sum().item(), 50.0, rtol=1e-6)


def test_kmeans_on_the_device_finds_separated_clusters(rng):
    X, y = blobs(rng, 6, 5, 120, spread=6.0)
    data = Data.from_array(X, None, TorchBackend("cpu"), 6)
    labels = _kmeans.labels(data, 6, np.random.default_rng(0))
    assert adjusted_rand_score(y, labels.numpy()) == 1.0
    centers = _kmeans.plusplus(data, 6, _kmeans.random_state(np.random.default_rng(0)))
    truth = np.stack([data.standardized().numpy()[y == k].mean(0) for k in range(6)])
    nearest = np.argmin(((centers.numpy()[:, None] - truth[None]) ** 2).sum(-1), axis=0)
    assert len(set(nearest)) == 6  # one seed in every cluster
    # the inertia of our k-means is that of scikit-learn's on this easy problem
    Z = data.standardized().numpy()
    ours = sum(((Z[labels.numpy() == k] - Z[labels.numpy() == k].mean(0)) ** 2).sum()
               for k in range(6))
    assert ours <= 1.001 * KMeans(6, n_init=10, random_state=0).fit(Z).inertia_


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_init_method_fits_on_torch(rng, init):
    X, y = blobs(rng, 3, 4, 80, spread=5.0)
    model = _fit(X, n_components=3, init_params=init, random_state=0, max_iter=30, device=CPU)
    assert adjusted_rand_score(y, model.labels_) > 0.9


def test_gemm_eigenvalue_clip_matches_the_eigendecomposition(rng):
    m, floor = 40, 1e-3
    covs = []
    for _ in range(3):
        Q, _ = np.linalg.qr(rng.normal(size=(m, m)))
        values = np.logspace(-8, 1, m)  # many below the floor, some just above
        covs.append((Q * values) @ Q.T)
    covs = torch.tensor(np.array(covs))
    got = clip_eigenvalues_gemm(covs, floor)
    vals, vecs = torch.linalg.eigh(covs)
    want = (vecs * vals.clamp(min=floor)[:, None, :]) @ vecs.mT
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-9)
    assert torch.linalg.eigvalsh(got).min() > floor * (1 - 1e-6)


def test_status_masks_instead_of_exceptions():
    be = TorchBackend("cpu")
    covs = torch.stack([torch.eye(3, dtype=torch.float64),
                        torch.diag(torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)),
                        torch.full((3, 3), float("nan"), dtype=torch.float64)])
    _, ok = be.precision_cholesky(covs)
    assert ok.tolist() == [True, False, False]
    assert be.positive_definite(covs).tolist() == [True, False, False]
    fixed, repaired = ensure_positive_definite(be, covs, 1e-6)
    assert repaired == 2 and be.positive_definite(fixed).all()


@pytest.mark.parametrize("case", ["duplicated rows", "constant column", "D > N"])
def test_degenerate_data_fit_finite_on_torch(case):
    from test_reliability import DEGENERATE, assert_valid_model

    X = DEGENERATE[case]()
    model = _fit(X, n_components=4, max_iter=30, random_state=0, eig_floor=0.0, device=CPU)
    assert_valid_model(model, X)


def test_work_arrays_are_chunk_sized_not_n_by_k_by_d(rng, monkeypatch):
    X, _ = _scaled_blobs(rng, 5, 6, 400)  # N = 2000
    seen = []
    original = TorchBackend._log_prob_nk

    def spy(self, Y, wh):
        seen.append(Y.shape[0])
        return original(self, Y, wh)

    monkeypatch.setattr(TorchBackend, "_log_prob_nk", spy)
    _fit(X, n_components=5, max_iter=5, random_state=0, device=CPU, chunk_size=300)
    assert max(seen) == 300 and len(seen) > 10
    # the default chunk keeps chunk x K x D within the work budget
    be = TorchBackend("cpu")
    rows = be.default_chunk_size(784, 10)
    assert rows * 10 * 784 <= WORK_ELEMENTS["cpu"]


def test_checkpoints_and_model_files_move_between_backends(rng, tmp_path):
    X, _ = _scaled_blobs(rng, 3, 4, 150)
    assert fingerprint(X, {}) == fingerprint(torch.from_numpy(X), {})
    kw = dict(n_components=3, max_iter=40, patience=None, random_state=4,
              init_params="random_from_data", restarts=0)
    path = tmp_path / "fit.ckpt"

    def stop(record):
        if record["iteration"] == 15:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(X, device=CPU, checkpoint=path, checkpoint_interval=0, callback=stop, **kw)
    resumed = _fit(X, checkpoint=path, **kw)  # on NumPy
    ref = _fit(X, **kw)
    for name in PARAMS:
        np.testing.assert_allclose(getattr(resumed, name), getattr(ref, name), atol=1e-10)
    gpu_like = _fit(torch.from_numpy(X), **kw)
    gpu_like.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), gpu_like.predict(X))
    np.testing.assert_allclose(loaded.score_samples(X), ref.score_samples(X), atol=1e-9)


def test_device_choice():
    X = np.zeros((10, 3))
    assert isinstance(select_backend(None, X), NumpyBackend)
    assert isinstance(select_backend("cpu", X), NumpyBackend)
    assert isinstance(select_backend(CPU, X), TorchBackend)
    assert isinstance(select_backend(None, torch.zeros(10, 3)), TorchBackend)
    assert isinstance(select_backend("cpu", torch.zeros(10, 3)), TorchBackend)
    # "auto" runs small problems on the host, and a tensor where it lives
    assert isinstance(select_backend("auto", X), NumpyBackend)
    assert isinstance(select_backend("auto", torch.zeros(10, 3)), TorchBackend)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"sees no CUDA device.*torch.cuda.is_available"):
            BigLearnGaussianMixture(2, device="cuda").fit(np.random.default_rng(0).normal(
                size=(20, 2)))


def test_auto_gives_the_host_result_without_a_gpu(rng):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: 'auto' may use it")  # pragma: no cover
    X, _ = _scaled_blobs(rng, 3, 4, 100)
    a = _fit(X, n_components=3, random_state=0, max_iter=20)
    b = _fit(X, n_components=3, random_state=0, max_iter=20, device="auto")
    np.testing.assert_array_equal(a.means_, b.means_)


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", 3])
def test_bad_device_values_are_refused(bad):
    with pytest.raises((ValueError, TypeError), match="'device' parameter"):
        BigLearnGaussianMixture(device=bad).fit(np.zeros((5, 2)) + np.arange(5)[:, None])


def test_without_torch_a_device_request_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ImportError, match=r"pip install torch .*--index-url .*/whl/cpu"):
        BigLearnGaussianMixture(2, device="cuda").fit(X)
    # "auto" and the default need no torch
    assert BigLearnGaussianMixture(2, device="auto", random_state=0).fit(X).converged_


def test_bad_tensors_get_clear_errors():
    good = torch.randn(20, 3, dtype=torch.float64)
    model = BigLearnGaussianMixture(2, random_state=0)
    bad = good.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.fit(bad)
    with pytest.raises(ValueError, match="2-dimensional"):
        model.fit(good[:, 0])
    with pytest.raises(TypeError, match="sparse"):
        model.fit(good.to_sparse())
    with pytest.raises(ValueError, match="Complex"):
        model.fit(good.to(torch.complex128))
    _fit(good, n_components=2, random_state=0, max_iter=5)
    with pytest.raises(ValueError, match="X has 2 features, but BigLearnGaussianMixture is "
                                         "expecting 3"):
        model.fit(good).predict(good[:, :2])


def test_the_pinned_double_buffer_hands_on_every_row_once(rng, monkeypatch):
    """The CUDA streaming path, run on the CPU: pinned memory and CUDA events
    replaced by plain ones, every chunk consumed as it arrives (as the EM loop does)."""
    X = rng.normal(size=(1003, 4))  # not a multiple of the chunk
    be = TorchBackend("cpu", dtype="float32")
    monkeypatch.setattr(be, "is_cuda", True)
    plain_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, pin_memory=False, **k: plain_empty(*a, **k))
    events = []

    class Event:
        def record(self):
            events.append("record")

        def synchronize(self):
            events.append("wait")

    monkeypatch.setattr(torch.cuda, "Event", Event)
    for _ in range(2):  # the buffers are kept for the next pass
        got = [chunk.clone() for chunk in be._stream(X, 100)]
        assert [len(c) for c in got] == [100] * 10 + [3]
        assert all(c.dtype == torch.float32 for c in got)  # cast into the float32 buffer
        np.testing.assert_allclose(torch.cat(got).numpy(), X, rtol=1e-6)
    # each buffer is refilled only after waiting for its previous transfer
    assert events.count("record") == 22 and events.count("wait") == 18
    assert len(be._pinned) == 1


def test_the_default_strategy_runs_on_torch(rng):
    # restarts (k-means++ on the device), refinement, moves, views and polish
    X, _ = _scaled_blobs(rng, 4, 3, 150)
    got = _fit(torch.from_numpy(X), n_components=4, random_state=0, restarts=3)
    kinds = [h["kind"] for h in got.history_]
    assert kinds[:4] == ["restart"] * 4 and "refine" in kinds and kinds[-1] == "polish"
    assert np.all(np.isfinite(got.means_))
    # the restarts begin elsewhere than NumPy's (another k-means++ kernel),
    # but on separated blobs both end at the same optimum
    ref = _fit(X, n_components=4, random_state=0, restarts=3)
    assert got.score(X) == pytest.approx(ref.score(X), abs=1e-6)
