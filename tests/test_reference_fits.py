"""Reference fits (tests/reference_fits.py): every backend, covariance type
and phase of a fit gives what it gave when tests/data/reference_fits.npz was
written. A refactor must leave them bit-identical; a change that moves results
on purpose rewrites the file (python tests/reference_fits.py) in its own commit
and says why."""

import json

import numpy as np
import pytest

import reference_fits as rf

RECORDED = np.load(rf.FILE, allow_pickle=False)
META = json.loads(str(RECORDED["meta"]))
CASES = {case.name: case for case in rf.cases()}


def test_the_file_holds_every_case():
    assert META["cases"] == list(CASES)
    kinds = {(c.kind, c.covariance_type, c.backend) for c in CASES.values()}
    assert {k for k, _, _ in kinds} >= {"default", "plain", "paper", "warm", "one",
                                        "subsample", "moves"}
    assert {b for _, _, b in kinds} == {"numpy", "torch", "dask"}


@pytest.mark.parametrize("name", list(CASES))
def test_reference_fit_is_unchanged(name):
    case = CASES[name]
    if case.backend == "torch":
        pytest.importorskip("torch", reason="pip install torch (CPU build: pip install torch "
                                            "--index-url https://download.pytorch.org/whl/cpu)")
    if case.backend == "dask":
        pytest.importorskip("dask.array", reason="pip install 'dask[array]' distributed")
    got = rf.fit(case)
    # bit for bit with the libraries that wrote the file; to 1e-9 with others,
    # whose BLAS calls may round differently (that still catches a changed algorithm)
    exact = META["versions"] == rf.versions()
    for field in rf.FIELDS:
        want = RECORDED[f"{name}/{field}"]
        if exact:
            np.testing.assert_array_equal(got[field], want, err_msg=f"{name} {field}")
        else:
            np.testing.assert_allclose(got[field], want, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name} {field}")
