"""scikit-learn's own GaussianMixture tests, taken from the installed
scikit-learn and run against BigLearnGaussianMixture in two configurations
(see docs/scikit_learn_tests.md and tests/sklearn_suite/): every test passes
except the documented differences, which must still fail."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn

HERE = Path(__file__).resolve().parent
SKLEARN = Path(sklearn.__file__).resolve().parent
FILES = [SKLEARN / "mixture" / "tests" / name
         for name in ("test_gaussian_mixture.py", "test_mixture.py")]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["plain", "default"])
def test_scikit_learns_gaussian_mixture_tests(config):
    missing = [str(f) for f in FILES if not f.is_file()]
    assert not missing, f"scikit-learn was installed without its tests: {missing}"
    env = dict(os.environ, SKLEARN_RUN_FLOAT32_TESTS="1", SCIPY_ARRAY_API="1",
               PYTHONPATH=os.pathsep.join([str(HERE / "sklearn_suite"),
                                           os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *map(str, FILES), "-p", "sklearn_suite_plugin",
         f"--biglearn-config={config}", "-q", "-p", "no:cacheprovider", "-rfX",
         "--tb=short", "-W", "ignore"],
        cwd=SKLEARN.parent, env=env, capture_output=True, text=True, timeout=1200)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    print(f"scikit-learn {sklearn.__version__}, {config}: {summary}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    counts = dict((k, int(n)) for n, k in re.findall(r"(\d+) (\w+)", summary))
    # the documented differences are there and fail; every other test ran or was
    # skipped by scikit-learn itself (devices and libraries that are not installed)
    assert counts.get("xfailed", 0) > 0 and counts.get("passed", 0) > 100, summary
    assert "failed" not in counts and "xpassed" not in counts, summary
