"""PyTorch's own forward + backward of the klindt2017 core and the SlowVAE encoder/decoder, NCHW
against channels-last, and channels-last under bf16 autocast, on the CPU: the floor that
neurozoo's epoch is compared with.

    .venv-bench/bin/python bench/layout_torch.py [THREADS] [HxW]   (defaults: 2, 32x32)

Prints milliseconds per step (batch 64, medians of 5 timings of 10 steps each).
"""
import statistics
import sys
import time

import torch
from torch import nn


def klindt2017_core():
    layers = [nn.Conv2d(1, 48, 13, bias=False), nn.BatchNorm2d(48), nn.ELU()]
    layers += [nn.Conv2d(48, 48, 3, padding=1, bias=False), nn.BatchNorm2d(48), nn.ELU()]
    layers += [nn.Conv2d(48, 48, 3, padding=1, bias=False), nn.BatchNorm2d(48)]
    return nn.Sequential(*layers)


def slowvae():
    enc = [nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
           nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
           nn.Conv2d(64, 256, 4, 1, 0), nn.ReLU()]
    dec = [nn.ConvTranspose2d(256, 64, 4, 1, 0), nn.ReLU(), nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
           nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
           nn.ConvTranspose2d(32, 1, 4, 2, 1)]
    return nn.Sequential(*enc, *dec)


def ms_per_step(make, shape, channels_last, bf16=False):
    torch.manual_seed(0)
    model, x = make(), torch.randn(shape)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = model(x)
        y.float().square().sum().backward()

    for _ in range(3):
        step()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(10):
            step()
        times.append((time.perf_counter() - t) / 10 * 1000)
    return statistics.median(times)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    h, w = map(int, (sys.argv[2] if len(sys.argv) > 2 else "32x32").split("x"))
    torch.set_num_threads(threads)
    print(f"PyTorch {torch.__version__}, {threads} threads, batch 64")
    for name, make, shape in [(f"klindt2017 core {h}x{w}", klindt2017_core, (64, 1, h, w)), ("slowvae 64x64", slowvae, (64, 1, 64, 64))]:
        nchw, nhwc, bf16 = ms_per_step(make, shape, False), ms_per_step(make, shape, True), ms_per_step(make, shape, True, True)
        print(f"{name:24} NCHW {nchw:7.1f} ms  channels-last {nhwc:7.1f} ms  ratio {nhwc / nchw:.2f}"
              f"  channels-last bf16 {bf16:7.1f} ms  ratio {bf16 / nchw:.2f}")


if __name__ == "__main__":
    main()
