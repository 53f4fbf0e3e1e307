"""The paper's headline result: on grid25, BigLearn-EM escapes the local optima
where plain EM from the same random starts gets stuck (about 15 s on 2 cores)."""

import numpy as np
import pytest

from biglearn_em.datasets import GRID25_SEEDS, grid25_params, make_grid25
from biglearn_em.experiments import grid25


def test_grid25_data_follow_the_true_mixture():
    X_train, X_test = make_grid25(GRID25_SEEDS[0])
    assert X_train.shape == (2000, 2) and X_test.shape == (5000, 2)
    _, means, _ = grid25_params()
    nearest = np.argmin(((X_test[:, None] - means) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=25)
    assert counts.min() > 120 and counts.max() < 280  # 200 expected per component
    resid = X_test - means[nearest]
    np.testing.assert_allclose(resid.var(0), 0.1, rtol=0.1)


#: Outer iterations of BigLearn-EM (the paper's: 2,000). Seeds within KL 0.1: 1 of 10 at
#: 100 iterations, 7 at 200, 9 at 400 (two still on their way down), 9 at 600, where nine
#: seeds have the test KL of 2,000 iterations to 3 decimals and keep it; the tenth (5755)
#: stays at 0.103 up to 1,000 and escapes by 2,000 (0.068). Plain EM: 0 of 10.
ESCAPED_BY = 600


@pytest.mark.slow
def test_biglearn_em_escapes_where_em_is_stuck():
    rows = grid25.run({"biglearn": lambda seed: grid25.biglearn(seed, max_iter=ESCAPED_BY),
                       "em": grid25.plain_em})  # EM: at most 2,000 steps, stopped by tol
    kl = {name: np.array([r.kl for r in rows if r.method == name]) for name in ("biglearn", "em")}
    assert len(kl["biglearn"]) == len(kl["em"]) == 10
    assert (kl["biglearn"] <= 0.1).sum() >= 9, kl["biglearn"]
    assert (kl["em"] <= 0.1).sum() <= 3, kl["em"]
    assert np.all(kl["biglearn"] > 0)  # KL to the truth of a fit on 2,000 points
