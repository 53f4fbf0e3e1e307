"""
A fit on a GPU (shown, not run)
===============================

With ``device="cuda"`` the whole fit runs on a CUDA device through PyTorch: NumPy data go
in, and the fitted arrays come back as NumPy arrays, exactly as from a fit on the host. The
machines that build this site have no GPU, so this page shows the code and leaves its output
to you: its file name does not start with ``plot_``, and the gallery renders it without
running it. It needs PyTorch with CUDA support (``pip install -e ".[torch]"``) and a CUDA
device.
"""

# %%
# Data, and a device to run on
# ----------------------------
# 200,000 rows of a 16-component mixture in 16 dimensions, generated on the host. The check
# below stops with a message where PyTorch sees no CUDA device (the fit itself would raise
# a ``ValueError`` saying the same).
import time

import numpy as np
import torch

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.datasets import sample_gmm

if not torch.cuda.is_available():
    raise SystemExit("PyTorch sees no CUDA device: this example needs one")
print("device:", torch.cuda.get_device_name(0))

rng = np.random.default_rng(0)
K, D = 16, 16
means = rng.uniform(-10, 10, (K, D))
covariances = np.array([np.diag(rng.uniform(0.5, 2.0, D)) for _ in range(K)])
X, y = sample_gmm(rng, 200_000, np.full(K, 1 / K), means, covariances)

# %%
# The same fit on the GPU and on the host
# ---------------------------------------
# One seed gives the same model on every backend (to rounding): the k-means++ starts, the
# search subsample and the views draw the same numbers. ``device="auto"`` would choose the GPU
# by itself for a problem of this size.
start = time.perf_counter()
gpu = BigLearnGaussianMixture(K, device="cuda", random_state=0).fit(X)
gpu_seconds = time.perf_counter() - start

start = time.perf_counter()
host = BigLearnGaussianMixture(K, random_state=0).fit(X)
host_seconds = time.perf_counter() - start

print(f"GPU:  {gpu_seconds:6.2f} s, mean log-likelihood {gpu.lower_bound_:.6f}")
print(f"host: {host_seconds:6.2f} s, mean log-likelihood {host.lower_bound_:.6f}")
print("means_ is a", type(gpu.means_).__name__,
      "; largest difference from the host's:", np.abs(gpu.means_ - host.means_).max())

# %%
# Lower precision, and data already on the device
# -----------------------------------------------
# ``dtype="float32"`` halves the memory the data take on the device and is faster on most
# GPUs (parameters and sufficient statistics stay float64). A torch tensor is fitted where
# it lives, without a copy on the host; its labels are computed on the device and come back
# as a NumPy array (tensors under scikit-learn's ``array_api_dispatch``, see the devices
# guide, docs/guide/devices.md).
fast = BigLearnGaussianMixture(K, device="cuda", dtype="float32", random_state=0).fit(X)
print(f"float32: mean log-likelihood {fast.lower_bound_:.6f}")

X_cuda = torch.as_tensor(X, device="cuda")
on_device = BigLearnGaussianMixture(K, random_state=0).fit(X_cuda)
labels = on_device.predict(X_cuda)
print("labels:", type(labels).__name__, labels.shape, np.bincount(labels))
