"""Fit the klindt2017 architecture with neuralpredictors 0.3.0 (PyTorch) on a static HDF5 file
or file tree.

The reference side of bench/fit.sh: the same data, normalisation, architecture, loss, optimiser,
batch size and number of epochs as `neurozoo fit` with the config bench/fit.sh writes. Prints one
JSON object: seconds and validation correlation per epoch (the seconds are the training pass +
validation correlation, as neurozoo times an epoch), the best validation correlation and the test
correlation of the best epoch's weights.

    python bench/fit_neuralpredictors.py FILE EPOCHS THREADS SEED [DEVICE]

PRECISION=bf16 runs the training forward passes under torch.autocast in bfloat16 (the loss in f32),
as neurozoo's `[train] precision = "bf16"` does.
"""

import collections
import collections.abc
import copy
import json
import sys
import time
import types

import math
import os

import numpy as np
import torch
import torch.nn.functional as F

# Import shims; the installed package is not modified. neuralpredictors 0.3.0 imports
# `collections.Iterable`, removed in Python 3.10, and torchvision, which only its
# TransferLearningCore uses (torchvision would bring a second PyTorch).
collections.Iterable = collections.abc.Iterable
sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
# Its Hermite cores (unused here) import scipy.special.gamma; a GPU image with torch and numpy
# but no scipy (bench/gpu.sh's) gets the scalar gamma instead.
try:
    import scipy.special  # noqa: F401
except ImportError:
    sys.modules["scipy"] = types.ModuleType("scipy")
    sys.modules["scipy.special"] = types.ModuleType("scipy.special")
    sys.modules["scipy.special"].gamma = math.gamma
from neuralpredictors.layers.cores import Stacked2dCore  # noqa: E402
from neuralpredictors.layers.readouts import SpatialXFeatureLinear  # noqa: E402


def load(path):
    """A static HDF5 file (h5py), or a neuralpredictors file tree (numpy only)."""
    if os.path.isdir(path):
        n = len(os.listdir(os.path.join(path, "data", "images")))
        images = np.stack([np.load(f"{path}/data/images/{i}.npy") for i in range(n)]).astype(np.float32)
        responses = np.stack([np.load(f"{path}/data/responses/{i}.npy") for i in range(n)]).astype(np.float32)
        tiers = np.load(f"{path}/meta/trials/tiers.npy").astype(str)
    else:
        import h5py

        with h5py.File(path, "r") as f:
            images = f["images"][()].astype(np.float32)
            responses = f["responses"][()].astype(np.float32)
            tiers = np.array([t.decode() for t in f["tiers"][()]])
    train = tiers == "train"
    # neurozoo's Normalizer: images by the train mean/std over all pixels, responses divided by
    # the per-unit train std (1 where the std is below 1% of the mean std).
    images = (images - images[train].mean()) / images[train].std()
    std = responses[train].std(axis=0)
    scale = np.where(std > 0.01 * std.mean(), std, 1.0).astype(np.float32)
    responses = responses / scale
    split = {t: np.flatnonzero(tiers == t) for t in ("train", "validation", "test")}
    return torch.from_numpy(images), torch.from_numpy(responses), split


class Model(torch.nn.Module):
    def __init__(self, in_shape, n_units, mean_response):
        super().__init__()
        self.core = Stacked2dCore(
            input_channels=in_shape[0],
            hidden_channels=48,
            input_kern=13,
            hidden_kern=3,
            layers=3,
            gamma_hidden=1.15,
            gamma_input=0.015,
            final_nonlinearity=False,
            pad_input=False,
            bias=False,
            momentum=0.1,
            laplace_padding=None,
            input_regularizer="LaplaceL2norm",
            use_avg_reg=False,
            stack=-1,  # the last layer only, as neurozoo's core
        )
        with torch.no_grad():
            c, h, w = self.core(torch.zeros(1, *in_shape)).shape[1:]
        # Softplus output, so the bias starts at the inverse softplus of the mean response.
        bias = torch.log(torch.expm1(mean_response.clamp_min(1e-3)))
        self.readout = SpatialXFeatureLinear(
            (c, h, w), n_units, bias=True, normalize=False, constrain_pos=True, mean_activity=bias
        )

    def forward(self, x):
        return F.softplus(self.readout(self.core(x)))

    def regularizer(self):
        # Klindt et al.'s readout L1 is Σ_n |mask_n|·|features_n| with γ 2e-4. neuralpredictors'
        # own `l1()` is the product of totals over all neurons (an outer product), a different
        # and far larger penalty, so the per-neuron form is written out here.
        s = self.readout.normalized_spatial.flatten(1).abs().sum(1)
        f = self.readout.features.flatten(1).abs().sum(1)
        return self.core.regularizer() + 2e-4 * (s * f).sum()


def correlation(model, images, responses, idx, batch=256):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(images[idx[i : i + batch]]) for i in range(0, len(idx), batch)]).cpu().numpy()
    resp = responses[idx].cpu().numpy()
    p, r = pred - pred.mean(0), resp - resp.mean(0)
    corr = (p * r).sum(0) / np.sqrt((p * p).sum(0) * (r * r).sum(0))
    return float(np.nan_to_num(corr).mean())


def main():
    path, epochs, threads, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    device = torch.device(sys.argv[5] if len(sys.argv) > 5 else "cpu")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    images, responses, split = load(path)
    # Like neurozoo, the whole (small) dataset lives on the device.
    images, responses = images.to(device), responses.to(device)
    train = split["train"]
    model = Model(tuple(images.shape[1:]), responses.shape[1], responses[train].mean(0).cpu()).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    bf16 = os.environ.get("PRECISION", "fp32") == "bf16"
    gen = torch.Generator().manual_seed(seed)
    seconds, validation, best, best_state = [], [], -np.inf, None
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for batch in torch.randperm(len(train), generator=gen).split(64):
            # Indices stay on the CPU (numpy), the data they pick is on the device.
            idx = train[batch.numpy()]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(images[idx])
            out = out.float()
            # neuralpredictors' PoissonLoss: mean over the batch of the sum over units.
            loss = (out - responses[idx] * torch.log(out + 1e-12)).sum(1).mean()
            loss = loss + model.regularizer()
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = correlation(model, images, responses, split["validation"])
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        validation.append(val)
        if val > best:
            best, best_state = val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    print(
        json.dumps(
            {
                "seconds_per_epoch": seconds,
                "validation_correlation": validation,
                "best_validation_correlation": best,
                "test_correlation": correlation(model, images, responses, split["test"]),
            }
        )
    )


if __name__ == "__main__":
    main()
