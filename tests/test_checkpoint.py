"""Checkpoints: atomic, refused for other data, and a resumed fit ends exactly
where an uninterrupted one does (also after SIGKILL)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from biglearn_em import BigLearnGaussianMixture
from conftest import blobs

SETTINGS = {"n_components": 4, "max_iter": 120, "patience": None, "random_state": 5}


def _same_model(a, b):
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.history_ == b.history_
    assert a.lower_bounds_ == b.lower_bounds_


class Stop(Exception):
    pass


def _stop_at(n):
    def callback(record):
        if record["iteration"] == n:
            raise Stop
    return callback


@pytest.mark.parametrize("n_init,stop", [(1, 40), (1, 121), (2, 60)])
def test_resume_gives_the_uninterrupted_model(rng, tmp_path, n_init, stop):
    X, _ = blobs(rng, 4, 3, 100, spread=2.5)
    path = tmp_path / "fit.ckpt"
    reference = BigLearnGaussianMixture(n_init=n_init, **SETTINGS).fit(X)
    interrupted = BigLearnGaussianMixture(n_init=n_init, checkpoint=path, checkpoint_interval=0,
                                          callback=_stop_at(stop), **SETTINGS)
    with pytest.raises(Stop):
        interrupted.fit(X)
    assert path.exists() and not list(tmp_path.glob("*.tmp"))
    resumed = BigLearnGaussianMixture(n_init=n_init, checkpoint=path, **SETTINGS).fit(X)
    _same_model(resumed, reference)


def _stop_at_record(n):
    seen = []

    def callback(record):
        seen.append(record)
        if len(seen) == n:
            raise Stop
    return callback


@pytest.mark.parametrize("stop", [2, 3, 6, 12])
def test_resume_under_the_default_budget_gives_the_uninterrupted_model(rng, tmp_path, stop):
    # the restarts end when converged runs agree and the views' patience
    # follows them: what decides both (the converged runs, whether they agreed,
    # what the last improvement took) is saved, so a fit stopped during the
    # restarts or the views resumes to the same model
    X, _ = blobs(rng, 2, 2, 150, spread=8.0)
    settings = {"n_components": 2, "random_state": 0}
    reference = BigLearnGaussianMixture(**settings).fit(X)
    kinds = [r["kind"] for r in reference.history_]
    assert kinds.count("restart") < 21  # the restarts agreed
    path = tmp_path / "fit.ckpt"
    interrupted = BigLearnGaussianMixture(checkpoint=path, checkpoint_interval=0,
                                          callback=_stop_at_record(stop), **settings)
    with pytest.raises(Stop):
        interrupted.fit(X)
    resumed = BigLearnGaussianMixture(checkpoint=path, **settings).fit(X)
    _same_model(resumed, reference)


def test_checkpoint_of_other_data_or_settings_is_refused(rng, tmp_path):
    X, _ = blobs(rng, 4, 3, 50)
    path = tmp_path / "fit.ckpt"
    BigLearnGaussianMixture(checkpoint=path, **SETTINGS).fit(X)
    with pytest.raises(ValueError, match="other data or settings"):
        BigLearnGaussianMixture(checkpoint=path, **SETTINGS).fit(X + 1)
    with pytest.raises(ValueError, match="other data or settings"):
        BigLearnGaussianMixture(checkpoint=path, **dict(SETTINGS, n_inner=2)).fit(X)


def test_checkpoint_in_a_missing_folder_is_refused_before_fitting(rng, tmp_path):
    X, _ = blobs(rng, 4, 3, 50)
    path = tmp_path / "no" / "such" / "fit.ckpt"
    model = BigLearnGaussianMixture(checkpoint=path, **SETTINGS)
    with pytest.raises(ValueError, match=r"'checkpoint' names a file in .*does not exist"):
        model.fit(X)
    assert not hasattr(model, "means_") and not path.parent.exists()


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04truncated"])
def test_corrupted_checkpoint_is_a_clear_error(rng, tmp_path, content):
    X, _ = blobs(rng, 4, 3, 50)
    path = tmp_path / "fit.ckpt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable biglearn-em checkpoint"):
        BigLearnGaussianMixture(checkpoint=path, **SETTINGS).fit(X)


def test_truncated_checkpoint_is_a_clear_error(rng, tmp_path):
    X, _ = blobs(rng, 4, 3, 50)
    path = tmp_path / "fit.ckpt"
    BigLearnGaussianMixture(checkpoint=path, **SETTINGS).fit(X)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="checkpoint"):
        BigLearnGaussianMixture(checkpoint=path, **SETTINGS).fit(X)


CHILD = """
import sys
import numpy as np
from biglearn_em import BigLearnGaussianMixture
X = np.load(sys.argv[1])
model = BigLearnGaussianMixture(5, max_iter=250, patience=None, random_state=11,
                                checkpoint=sys.argv[2], checkpoint_interval=0).fit(X)
np.savez(sys.argv[3], weights=model.weights_, means=model.means_, covs=model.covariances_,
         lbs=np.array(model.lower_bounds_))
"""


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_resume(rng, tmp_path):
    X, _ = blobs(rng, 5, 4, 400, spread=2.0)
    data, ckpt, out = tmp_path / "X.npy", tmp_path / "fit.ckpt", tmp_path / "out.npz"
    np.save(data, X)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    cmd = [sys.executable, str(script), str(data), str(ckpt), str(out)]
    start = time.monotonic()
    subprocess.run(cmd, env=env, check=True)
    full_seconds = time.monotonic() - start
    reference = dict(np.load(out))
    out.unlink()
    ckpt.unlink()

    # kill at a random moment after the first checkpoint exists; if a busy
    # machine let the fit finish first, try again with a shorter delay
    for attempt in range(4):
        killed = subprocess.Popen(cmd, env=env)
        while not ckpt.exists() and killed.poll() is None:
            time.sleep(0.01)
        delay = np.random.default_rng().uniform(0.0, 0.5 / 2**attempt) * full_seconds
        time.sleep(delay)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        if killed.returncode == -signal.SIGKILL:
            break
        out.unlink(missing_ok=True)
        ckpt.unlink(missing_ok=True)
    assert killed.returncode == -signal.SIGKILL, "the fit always ended before the kill"
    out.unlink(missing_ok=True)  # the kill can land while the child writes its result
    subprocess.run(cmd, env=env, check=True)
    resumed = np.load(out)
    for name, value in reference.items():
        np.testing.assert_array_equal(resumed[name], value,
                                      err_msg=f"{name} after kill at {delay:.2f} s")


@pytest.mark.parametrize("content", ["x,y\n1,2\n3,4\n", "npy"])
def test_a_data_file_given_as_the_checkpoint_is_refused_without_pickle(tmp_path, content):
    path = tmp_path / "data.npz"
    if content == "npy":
        np.save(tmp_path / "data.npy", np.zeros((3, 2)))
        (tmp_path / "data.npy").rename(path)
    else:
        path.write_text(content)
    X = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError, match="not a readable biglearn-em checkpoint") as exc:
        BigLearnGaussianMixture(2, checkpoint=path).fit(X)
    assert "pickle" not in str(exc.value) and "\n" not in str(exc.value)
    assert path.read_text() == content if content != "npy" else path.exists()
