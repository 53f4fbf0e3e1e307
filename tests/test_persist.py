"""Model files: exact round trips, safe loading and clear errors for bad files."""

import json
import os
import zipfile

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import biglearn_em
from biglearn_em import BigLearnGaussianMixture, load, persist
from biglearn_em.mixture import load_with_meta
from conftest import blobs

ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


@pytest.fixture(scope="module")
def data():
    X, _ = blobs(np.random.default_rng(7), 3, 4, 60, spread=3.0)
    return X


@pytest.fixture(scope="module")
def fitted(data):
    return BigLearnGaussianMixture(3, random_state=0, max_iter=60, n_init=2).fit(data)


def entries(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def rewrite(path, **changes):
    """Write the model file at ``path`` again with some entries replaced."""
    content = entries(path)
    content.update(changes)
    np.savez(path, **content)


def rewrite_meta(path, **changes):
    meta = json.loads(str(entries(path)["meta"]))
    meta.update(changes)
    rewrite(path, meta=np.array(json.dumps(meta)))


def assert_same_model(a, b, X):
    for name in ARRAYS:
        va, vb = getattr(a, name), getattr(b, name)
        assert va.dtype == vb.dtype and np.array_equal(va, vb), name
    assert np.array_equal(a.predict(X), b.predict(X))
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert np.array_equal(a.score_samples(X), b.score_samples(X))
    assert a.score(X) == b.score(X) and a.bic(X) == b.bic(X)


# -------------------------------------------------------------- round trips
def test_round_trip_is_exact(tmp_path, data, fitted):
    path = persist.save(fitted, tmp_path / "m.npz")
    loaded = load(path)
    assert_same_model(fitted, loaded, data)
    for name in ARRAYS:  # the memory layout too: it decides the BLAS code path
        assert getattr(loaded, name).strides == getattr(fitted, name).strides, name
    check_is_fitted(loaded)
    assert loaded.n_features_in_ == 4 and not hasattr(loaded, "feature_names_in_")
    assert loaded.get_params() == fitted.get_params()
    assert loaded.lower_bound_ == fitted.lower_bound_ and loaded.n_iter_ == fitted.n_iter_
    assert loaded.n_em_steps_ == fitted.n_em_steps_
    assert loaded.converged_ is fitted.converged_
    assert loaded.lower_bounds_ == fitted.lower_bounds_
    assert loaded.history_ == fitted.history_
    # same seed, same draws
    assert all(np.array_equal(u, v) for u, v in zip(loaded.sample(7), fitted.sample(7)))


def test_estimator_save_method_and_package_load(tmp_path, data, fitted):
    fitted.save(tmp_path / "m.npz")
    assert_same_model(fitted, biglearn_em.load(tmp_path / "m.npz"), data)


def test_float32_model_keeps_its_dtype(tmp_path, data):
    model = BigLearnGaussianMixture(2, random_state=1, max_iter=20).fit(data.astype(np.float32))
    model.save(tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert loaded.means_.dtype == np.float32
    assert_same_model(model, loaded, data.astype(np.float32))


def test_init_arrays_and_unsavable_params(tmp_path, data):
    means = data[[0, 60, 120]]
    model = BigLearnGaussianMixture(3, means_init=means, weights_init=[0.2, 0.3, 0.5],
                                    random_state=np.random.default_rng(3), max_iter=10,
                                    view_probs=(0.5, 0.25, 0.25)).fit(data)
    model.save(tmp_path / "m.npz")
    loaded, meta = load_with_meta(tmp_path / "m.npz")
    assert np.array_equal(loaded.means_init, means)  # stored as a list, back as an array
    assert np.array_equal(loaded.weights_init, [0.2, 0.3, 0.5])
    assert loaded.view_probs == (0.5, 0.25, 0.25)  # a tuple again
    assert loaded.random_state is None and meta["params_not_saved"] == ["random_state"]
    assert_same_model(model, loaded, data)


def test_feature_names_round_trip(tmp_path, data, fitted):
    model = BigLearnGaussianMixture(**fitted.get_params()).fit(data)
    model.feature_names_in_ = np.asarray(["w", "x", "y", "z"], dtype=object)
    model.save(tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert loaded.feature_names_in_.tolist() == ["w", "x", "y", "z"]


def test_file_holds_arrays_and_json_metadata(tmp_path, fitted):
    fitted.save(tmp_path / "m.npz")
    content = entries(tmp_path / "m.npz")  # loads without pickle
    assert set(content) == set(persist.ENTRIES)
    meta = json.loads(str(content["meta"]))
    assert meta["format"] == "biglearn-em-model" and meta["format_version"] == 1
    assert set(meta["versions"]) == {"biglearn-em", "python", "numpy", "scipy", "scikit-learn"}
    assert meta["versions"]["numpy"] == np.__version__
    assert meta["params"]["n_init"] == 2 and meta["params"]["view_probs"] == [0.1, 0.1, 0.8]
    assert meta["n_features_in_"] == 4 and meta["n_components"] == 3
    assert meta["dtype"] == "float64" and meta["feature_names_in_"] is None
    assert meta["lower_bound_"] == fitted.lower_bound_ and meta["n_iter_"] == fitted.n_iter_


# --------------------------------------------------------------- writing
def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path, fitted, monkeypatch):
    target = tmp_path / "m.npz"
    fitted.save(target)
    before = target.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(target)
    assert target.read_bytes() == before  # the old model is intact
    assert os.listdir(tmp_path) == ["m.npz"]


def test_save_refuses_unfitted_models_and_missing_directories(tmp_path, fitted):
    with pytest.raises(NotFittedError):
        BigLearnGaussianMixture(2).save(tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError, match=r"no such directory"):
        fitted.save(tmp_path / "nope" / "m.npz")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------- bad files
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such model file"):
        load(tmp_path / "nope.npz")


def test_truncated_file(tmp_path, fitted):
    path = tmp_path / "m.npz"
    fitted.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"not a biglearn-em model file"):
        load(path)


def test_flipped_byte_is_caught_by_the_checksum(tmp_path, fitted):
    path = tmp_path / "m.npz"
    fitted.save(path)
    raw = bytearray(path.read_bytes())
    at = bytes(raw).index(fitted.means_.tobytes())
    raw[at + 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"damaged model file \(entry 'means_'.*CRC"):
        load(path)


@pytest.mark.parametrize("content", [b"", b"label\n1\n", bytes(range(256)) * 4,
                                     b"a,b\n1,2\n3,4\n"])
def test_foreign_bytes(tmp_path, content):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"is not a biglearn-em model file \(expected an \.npz "
                                         r"archive written by biglearn-em fit --out or model\.save"
                       ) as exc:
        load(path)
    # numpy's own answer to such a file suggests unpickling it: a model file never is
    assert "pickle" not in str(exc.value)


def test_foreign_numpy_files(tmp_path):
    np.save(tmp_path / "a.npy", np.eye(2))
    with pytest.raises(ValueError, match=r"not a biglearn-em model file \(it holds a single"):
        load(tmp_path / "a.npy")
    np.savez(tmp_path / "b.npz", weights=np.ones(2))
    with pytest.raises(ValueError, match=r"not a biglearn-em model file \(no 'meta' entry; "):
        load(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", meta=np.array(json.dumps({"format": "other"})))
    with pytest.raises(ValueError, match=r"not a biglearn-em model file \(format 'other'\)"):
        load(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", meta=np.array("{not json"))
    with pytest.raises(ValueError, match=r"entry 'meta' is not valid JSON"):
        load(tmp_path / "d.npz")


CALLS = []


def _record_call():
    CALLS.append("unpickled")


class _Payload:
    def __reduce__(self):
        return (_record_call, ())


def test_pickled_entries_are_never_unpickled(tmp_path, fitted):
    path = tmp_path / "m.npz"
    fitted.save(path)
    rewrite(path, means_=np.array([_Payload()], dtype=object))
    with pytest.raises(ValueError, match=r"damaged model file \(entry 'means_': an array of "
                                         r"Python objects, which is never read\)") as exc:
        load(path)
    assert CALLS == []
    assert "pickle" not in str(exc.value).replace(str(path), "")  # the test's folder is named so


def test_newer_format_version(tmp_path, fitted):
    path = tmp_path / "m.npz"
    fitted.save(path)
    rewrite_meta(path, format_version=2)
    with pytest.raises(ValueError, match=r"format version 2, newer than .* upgrade biglearn-em"):
        load(path)


@pytest.mark.parametrize(("entry", "value", "message"), [
    ("means_", np.zeros((3, 5)), r"means_ has shape \(3, 5\)"),
    ("means_", np.full((3, 4), np.nan), r"means_ has values that are not finite"),
    ("weights_", np.array([0.5, 0.5, 0.5]), r"weights_ are not probabilities"),
    ("precisions_cholesky_", np.ones((3, 4, 4)), r"not upper triangular"),
    ("covariances_", np.zeros((3, 4, 4), dtype=np.float32), r"dtype float32"),
    ("lower_bounds_", np.array(["a"]), r"entry 'lower_bounds_' has dtype <U1"),
])
def test_inconsistent_arrays(tmp_path, fitted, entry, value, message):
    path = tmp_path / "m.npz"
    fitted.save(path)
    rewrite(path, **{entry: value})
    with pytest.raises(ValueError, match=message):
        load(path)


@pytest.mark.parametrize(("changes", "message"), [
    ({"n_features_in_": 5}, r"shape \(3, 4\) .* expected \(3, 5\)"),
    ({"n_components": "3"}, r"n_components = '3'"),
    ({"dtype": "object"}, r"dtype 'object'"),
    ({"feature_names_in_": ["a"]}, r"feature_names_in_ is not a list of n_features_in_"),
    ({"params": {"bogus": 1}}, r"parameters \['bogus'\] unknown"),
    ({"params": {"n_components": 3, "max_iter": -1}}, r"'max_iter' parameter .* must be"),
    ({"params": {"n_components": 2}}, r"n_components parameter 2 but 3 components"),
    ({"converged_": "yes"}, r"converged_ missing or of the wrong type"),
    ({"memory_order": {}}, r"memory_order of weights_ is None"),
])
def test_inconsistent_metadata(tmp_path, fitted, changes, message):
    path = tmp_path / "m.npz"
    fitted.save(path)
    rewrite_meta(path, **changes)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_missing_and_extra_entries(tmp_path, fitted):
    path = tmp_path / "m.npz"
    fitted.save(path)
    content = entries(path)
    del content["covariances_"]
    content["extra"] = np.zeros(1)
    np.savez(path, **content)
    with pytest.raises(ValueError, match=r"missing entries \['covariances_'\], unexpected "
                                         r"entries \['extra'\]"):
        load(path)
    assert zipfile.is_zipfile(path)
