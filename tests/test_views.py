"""Views and the two write-back rules."""

import numpy as np
import pytest

from biglearn_em.backends.kernels import precision_cholesky
from biglearn_em.backends.numpy import NumpyBackend
from biglearn_em.engine.views import View, draw_view, haar_frame, joint_view, write_back
from conftest import random_spd

NP = NumpyBackend()


def _views(rng, D):
    m = 3
    return [
        View("marginal", D, index=np.sort(rng.choice(D, m, replace=False))),
        View("rotated", D, basis=haar_frame(rng, D, m).T),
    ]


def _P(view: View) -> np.ndarray:
    if view.index is not None:
        return np.eye(view.n_features)[view.index]
    return view.basis


def test_haar_frame_is_orthonormal(rng):
    Q = haar_frame(rng, 9, 4)
    np.testing.assert_allclose(Q.T @ Q, np.eye(4), atol=1e-12)


def test_haar_frame_is_uniform(rng):
    # E[Q Q^T] = (m / D) I for a uniformly random m-frame
    acc = sum(q @ q.T for q in (haar_frame(rng, 4, 1) for _ in range(4000))) / 4000
    np.testing.assert_allclose(acc, np.eye(4) / 4, atol=0.03)


def test_projections_match_matrix_form(rng):
    K, D = 3, 6
    means, covs = rng.normal(size=(K, D)), random_spd(rng, K, D)
    X = rng.normal(size=(10, D))
    for view in _views(rng, D) + [joint_view(D)]:
        P = _P(view) if view.kind != "joint" else np.eye(D)
        mv, Sv = view.params(means, covs)
        np.testing.assert_allclose(view.data(X), X @ P.T, atol=1e-12)
        np.testing.assert_allclose(mv, means @ P.T, atol=1e-12)
        np.testing.assert_allclose(Sv, P @ covs @ P.T, atol=1e-12)
        np.testing.assert_allclose(view.cross(covs), covs @ P.T, atol=1e-12)


@pytest.mark.parametrize("rule", ["block", "conditional"])
def test_write_back_reproduces_the_view(rng, rule):
    K, D = 4, 7
    for _ in range(10):
        means, covs = rng.normal(size=(K, D)), random_spd(rng, K, D)
        for view in _views(rng, D):
            mv, Sv = view.params(means, covs)
            new_mv = mv + rng.normal(size=mv.shape)
            new_Sv = random_spd(rng, K, view.m)
            old = (mv, Sv, precision_cholesky(Sv))
            new_means, new_covs = write_back(NP, view, means, covs, old, (new_mv, new_Sv), rule)
            P = _P(view)
            np.testing.assert_allclose(P @ new_covs @ P.T, new_Sv, atol=1e-10, rtol=0)
            np.testing.assert_allclose(new_means @ P.T, new_mv, atol=1e-10, rtol=0)
            np.testing.assert_allclose(new_covs, np.swapaxes(new_covs, 1, 2), atol=1e-12)


def test_conditional_rule_keeps_covariances_positive_definite(rng):
    K, D = 5, 8
    for _ in range(20):
        means, covs = rng.normal(size=(K, D)), random_spd(rng, K, D)
        for view in _views(rng, D):
            mv, Sv = view.params(means, covs)
            # a drastic shrink of the view covariance: the block rule goes indefinite here
            new_Sv = 1e-3 * random_spd(rng, K, view.m)
            _, new_covs = write_back(NP, view, means, covs, (mv, Sv, precision_cholesky(Sv)),
                                     (mv, new_Sv), "conditional")
            assert np.linalg.eigvalsh(new_covs).min() > 0
            # the conditional covariance of x given Px is unchanged
            P = _P(view)
            for S0, S1 in zip(covs, new_covs):
                cond0 = S0 - S0 @ P.T @ np.linalg.solve(P @ S0 @ P.T, P @ S0)
                cond1 = S1 - S1 @ P.T @ np.linalg.solve(P @ S1 @ P.T, P @ S1)
                np.testing.assert_allclose(cond1, cond0, atol=1e-8)


def test_block_rule_can_go_indefinite(rng):
    # why the block rule needs the eigenvalue floor afterwards
    K, D = 5, 8
    means, covs = rng.normal(size=(K, D)), random_spd(rng, K, D)
    view = _views(rng, D)[1]
    mv, Sv = view.params(means, covs)
    _, new_covs = write_back(NP, view, means, covs, (mv, Sv, precision_cholesky(Sv)),
                             (mv, 1e-3 * random_spd(rng, K, view.m)), "block")
    assert np.linalg.eigvalsh(new_covs).min() < 0


def test_draw_view_kinds_and_sizes(rng):
    D = 20
    kinds = {"joint": 0, "marginal": 0, "rotated": 0}
    sizes = []
    for _ in range(3000):
        view = draw_view(rng, D, (0.4, 0.1, 0.5), (5.0, 1.0))
        kinds[view.kind] += 1
        if view.kind != "joint":
            sizes.append(view.m)
            assert 0 <= view.m <= D
        else:
            assert view.m == D
    assert abs(kinds["joint"] / 3000 - 0.4) < 0.04
    assert abs(kinds["marginal"] / 3000 - 0.1) < 0.03
    # E[floor(D B)] with B ~ Beta(5, 1): about D * 5/6 - 1/2
    assert abs(np.mean(sizes) - (D * 5 / 6 - 0.5)) < 0.5


def test_view_on_a_backend_is_the_same_object_each_time(rng):
    # the inner steps of one view then read the chunks kept for that view
    for view in _views(rng, 6):
        on = view.on(NP)
        assert view.on(NP) is on
        assert view.on(NumpyBackend()) is not on  # another backend: put on it anew
    joint = joint_view(6)
    assert joint.on(NP) is joint
