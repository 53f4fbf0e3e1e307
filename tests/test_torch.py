"""What only the PyTorch backend has, tested on the CPU: tensors used where
they live and results in the input's namespace under array_api_dispatch,
NumPy data moved to the device, streaming within a device budget and the
pinned double buffer, float32 compute with float64 statistics, the GEMM-only
eigenvalue floor, status masks instead of exceptions, chunk-sized work
arrays, the choice of device and its errors. The core behaviour (the fit of
NumPy to 1e-10, dtypes, predictions, init methods, k-means, degenerate data,
checkpoints and model files, errors on bad input) runs on torch through the
``backend`` fixture: test_backends.py."""

import sys

import numpy as np
import pytest
import sklearn
from sklearn.metrics import adjusted_rand_score

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.backends.numpy import NumpyBackend
from biglearn_em.backends.select import select_backend
from biglearn_em.engine.step import ensure_positive_definite
from conftest import TORCH_MISSING, fit_quietly, scaled_blobs

torch = pytest.importorskip("torch", reason=TORCH_MISSING)

from biglearn_em.backends.torch import (  # noqa: E402
    WORK_ELEMENTS,
    TorchBackend,
    clip_eigenvalues_gemm,
)

CPU = torch.device("cpu")
PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")




def test_under_array_api_dispatch_results_are_tensors_on_the_device(rng):
    X, _ = scaled_blobs(rng, 3, 4, 100)
    Xt = torch.from_numpy(X)
    with sklearn.config_context(array_api_dispatch=True):
        model = fit_quietly(Xt, n_components=3, random_state=0, max_iter=30)
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
    ref = fit_quietly(Xt, n_components=3, random_state=0, max_iter=30)
    np.testing.assert_array_equal(model.means_.numpy(), ref.means_)


def test_streamed_data_give_the_resident_result(rng):
    X, _ = scaled_blobs(rng, 4, 5, 250)
    kw = dict(n_components=4, random_state=1, max_iter=25, chunk_size=128, device=CPU)
    resident = fit_quietly(X, **kw)
    streamed = fit_quietly(X, device_budget=X.nbytes // 10, **kw)
    be = TorchBackend("cpu", budget=X.nbytes // 10)
    assert isinstance(be.place(X), np.ndarray)  # left on the host
    assert isinstance(TorchBackend("cpu").place(X), torch.Tensor)
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(streamed, name), getattr(resident, name))
    assert streamed.lower_bounds_ == resident.lower_bounds_


def test_numpy_data_fitted_by_torch_in_float32_stay_close(rng):
    # NumPy data moved to the device (device=CPU), computed there in float32
    X, y = scaled_blobs(rng, 4, 6, 200)
    kw = dict(n_components=4, random_state=2, max_iter=30, device=CPU)
    full = fit_quietly(X, **kw)
    single = fit_quietly(X, dtype="float32", **kw)
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


def test_work_arrays_are_chunk_sized_not_n_by_k_by_d(rng, monkeypatch):
    X, _ = scaled_blobs(rng, 5, 6, 400)  # N = 2000
    seen = []
    original = TorchBackend._log_prob_nk

    def spy(self, Y, wh):
        seen.append(Y.shape[0])
        return original(self, Y, wh)

    monkeypatch.setattr(TorchBackend, "_log_prob_nk", spy)
    fit_quietly(X, n_components=5, max_iter=5, random_state=0, device=CPU, chunk_size=300)
    assert max(seen) == 300 and len(seen) > 10
    # the default chunk keeps chunk x K x D within the work budget
    be = TorchBackend("cpu")
    rows = be.default_chunk_size(784, 10)
    assert rows * 10 * 784 <= WORK_ELEMENTS["cpu"]


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
    X, _ = scaled_blobs(rng, 3, 4, 100)
    a = fit_quietly(X, n_components=3, random_state=0, max_iter=20)
    b = fit_quietly(X, n_components=3, random_state=0, max_iter=20, device="auto")
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


def test_a_sparse_tensor_is_refused():
    good = torch.randn(20, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match="sparse"):
        BigLearnGaussianMixture(2, random_state=0).fit(good.to_sparse())


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
