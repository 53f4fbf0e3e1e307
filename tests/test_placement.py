"""The backend is chosen once per fit, and X placed once: ``labels_`` reuse
the fit's own data on its backend (issue 20)."""

import numpy as np
import pytest

from biglearn_em import BigLearnGaussianMixture

torch = pytest.importorskip(
    "torch", reason="PyTorch is missing: pip install torch --index-url "
                    "https://download.pytorch.org/whl/cpu")


def test_a_fit_places_host_data_on_the_device_once(monkeypatch):
    from biglearn_em.backends import select
    from biglearn_em.backends.torch import TorchBackend

    placed, chosen = [], []
    place, choose = TorchBackend.place, select.select_backend

    def counting_place(self, X):
        placed.append(X.shape)
        return place(self, X)

    def counting_select(*args, **kwargs):
        chosen.append(args[0])
        return choose(*args, **kwargs)

    monkeypatch.setattr(TorchBackend, "place", counting_place)
    monkeypatch.setattr("biglearn_em.fitting.select_backend", counting_select)
    X = np.random.default_rng(0).normal(size=(400, 3))
    # a torch.device runs NumPy input on torch (the string "cpu" would keep it on NumPy)
    model = BigLearnGaussianMixture(2, device=torch.device("cpu"), random_state=0, restarts=1,
                                    moves=0, max_iter=5)
    model.fit(X)
    # chosen and placed once: labels_ do not place X a second time
    assert chosen == [torch.device("cpu")]
    assert placed.count((400, 3)) == 1
    assert model.labels_.shape == (400,)
