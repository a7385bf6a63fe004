"""MEIs in PyTorch on a run exported by `neurozoo export` (its model.py, neuralpredictors 0.3.0):
the reference side of bench/mei.sh.

The procedure is sinzlab/mei's as neurozoo documents it (docs/insilico.md): start from N(0, 1)
pixels rescaled to the norm and clipped; each step the unit's predicted rate is differentiated
with respect to the image, the gradient blurred by a normalised Gaussian (sigma 1, window
4 sigma, reflection padding; `mei.legacy.ops.GaussianBlur`), an SGD step of rate `lr` taken
upwards, and the image rescaled to the norm (`ChangeNorm`) and clipped (`ClipRange`).

    python bench/mei_torch.py EXPORT_DIR UNITS STEPS NORM LO HI THREADS MODE
UNITS: comma-separated neuron indices; MODE: `one` (one unit at a time, as sinzlab/mei runs
it) or `batched` (one image per unit in one batch, as neurozoo does). Prints one JSON line.
"""

import importlib.util
import json
import sys
import time

import torch
import torch.nn.functional as F

export_dir, units, steps, norm, lo, hi, threads, mode = sys.argv[1:9]
units = [int(u) for u in units.split(",")]
steps, norm, lo, hi, threads = int(steps), float(norm), float(lo), float(hi), int(threads)
torch.set_num_threads(threads)
began = time.perf_counter()
spec = importlib.util.spec_from_file_location("exported_model", f"{export_dir}/model.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.build()
report = json.load(open(f"{export_dir}/exported.json"))
data_key = report["recordings"][0][0]
shape = tuple(report["input_shape"])
for p in model.parameters():
    p.requires_grad_(False)


def project(x):
    norms = x.flatten(1).norm(dim=1).clamp_min(1e-12)
    return (x * (norm / norms).view(-1, 1, 1, 1)).clamp(lo, hi)


def blur(g, sigma=1.0):
    half = max(1, round(4 * sigma))
    taps = torch.exp(-torch.arange(-half, half + 1, dtype=torch.float32) ** 2 / (2 * sigma**2))
    taps = taps / taps.sum()
    k, c, h, w = g.shape
    maps = F.pad(g.reshape(k * c, 1, h, w), (half, half, half, half), mode="reflect")
    maps = F.conv2d(maps, taps.view(1, 1, -1, 1))
    return F.conv2d(maps, taps.view(1, 1, 1, -1)).reshape(k, c, h, w)


def optimise(chosen, lr=1.0):
    index = torch.tensor(chosen)
    x = project(torch.randn(len(chosen), *shape))
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        rates = model(x, data_key=data_key)[torch.arange(len(chosen)), index]
        (grad,) = torch.autograd.grad(rates.sum(), x)
        x = project(x.detach() + lr * blur(grad))
    with torch.no_grad():
        return model(x, data_key=data_key)[torch.arange(len(chosen)), index]


torch.manual_seed(0)
loaded = time.perf_counter()
if mode == "one":
    rates = torch.cat([optimise([u]) for u in units])
else:
    rates = optimise(units)
done = time.perf_counter()
print(json.dumps({
    "mode": mode,
    "units": len(units),
    "steps": steps,
    "optimise_seconds": done - loaded,
    "total_seconds": done - began,
    "mean_rate": float(rates.mean()),
    "torch": torch.__version__,
}))
