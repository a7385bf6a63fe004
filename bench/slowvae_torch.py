"""The reference's SlowVAE training step (bethgelab/slow_disentanglement, scripts/solver.py and
scripts/model.py) ported to current PyTorch, timed: the side that bench/slowvae_speed.sh sets
neurozoo's steps per second against.

    python bench/slowvae_torch.py STEPS THREADS DEVICE

The same network, loss, Adam (lr 1e-4, betas 0.9/0.999) and batch (32 pairs = 64 frames) as
`neurozoo fit slowvae`, and the reference's per-step reads of its losses (`.item()`, which make
the host wait for the GPU) for its log. Frames are random binary images already on the device:
the reference's DataLoader is left out, so this side is if anything faster than the reference.
PRECISION=bf16 runs the networks under torch.autocast in bfloat16, the loss in f32. Prints one
JSON object: steps, seconds, steps per second.
"""
import json
import math
import os
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F


def network(z_dim=10):
    encoder = nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(True), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(True), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(True),
        nn.Conv2d(64, 256, 4, 1), nn.ReLU(True), nn.Flatten(), nn.Linear(256, 2 * z_dim))
    decoder = nn.Sequential(
        nn.Linear(z_dim, 256), nn.Unflatten(1, (256, 1, 1)), nn.ReLU(True),
        nn.ConvTranspose2d(256, 64, 4), nn.ReLU(True), nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(True),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(True), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),
        nn.ConvTranspose2d(32, 1, 4, 2, 1))
    for m in encoder.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    for m in decoder.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return encoder, decoder


def loss(encoder, decoder, x, bf16, beta=1.0, gamma=10.0, rate=6.0):
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = encoder(x)
    mu, logvar = out.float().chunk(2, 1)
    z = mu + (logvar / 2).exp() * torch.randn_like(mu)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = decoder(z)
    recon = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / x.shape[0]
    entropy = 0.5 * (logvar + math.log(2 * math.pi * math.e))
    ce_normal = 0.5 * (mu**2 + logvar.exp()) + math.log(math.sqrt(2 * math.pi))

    def ce_laplace(m, lv):
        sigma = (lv / 2).exp()
        cdf = 0.5 * (1 + torch.erf(m / sigma / math.sqrt(2)))
        return -math.log(rate / 2) + rate * sigma * math.sqrt(2 / math.pi) * torch.exp(-m**2 / (2 * sigma**2)) - rate * m * (1 - 2 * cdf)

    lap = ce_laplace(mu[::2] - mu[1::2], logvar[::2]) + ce_laplace(mu[1::2] - mu[::2], logvar[1::2])
    h, cn, cl = (t.sum(1).mean() for t in (entropy, ce_normal, lap))
    return 2 * recon + beta * (cn - h) + gamma * (cl - h), recon, h, cn, cl


def main():
    steps, threads, device = int(sys.argv[1]), int(sys.argv[2]), torch.device(sys.argv[3])
    bf16 = os.environ.get("PRECISION", "fp32") == "bf16"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    encoder, decoder = network()
    encoder, decoder = encoder.to(device), decoder.to(device)
    opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=1e-4, betas=(0.9, 0.999))
    frames = (torch.rand(2000, 1, 64, 64, device=device) < 0.1).float()
    running = [0.0] * 5
    start = time.perf_counter()
    for step in range(steps):
        x = frames[torch.randint(0, 2000, (64,), device=device)]
        total, recon, h, cn, cl = loss(encoder, decoder, x, bf16)
        # The reference's log reads every term every step.
        running[0] += recon.item(); running[4] += total.item()
        running[1] = h.item(); running[2] += cn.item(); running[3] += cl.item()
        opt.zero_grad()
        total.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({"steps": steps, "seconds": seconds, "steps_per_second": steps / seconds, "mean_loss": running[4] / steps}))


if __name__ == "__main__":
    main()
