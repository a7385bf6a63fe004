"""SAELens's training SAEs on a representation file, timed per epoch: the reference side of
bench/sae.sh. SAELens's own runner trains on a language model's activation store, so its
training SAE modules are driven here by the loop that runner uses (Adam, shuffled minibatches,
a latent dead after a window of steps without firing) on the file's rows.

    python bench/sae_saelens.py REPR.h5 KIND LATENTS SPARSITY EPOCHS BATCH LR THREADS
KIND: topk | batchtopk | jumprelu | matryoshka; SPARSITY: k, or the L0 coefficient for jumprelu.
Prints one JSON line: seconds per epoch, and L0 and FVU of the trained SAE on all rows as
SAELens saves it (BatchTopK and Matryoshka as a JumpReLU with the running threshold).
"""

import json
import sys
import time

import h5py
import numpy as np
import sae_lens
import torch
from sae_lens import (
    BatchTopKTrainingSAE,
    BatchTopKTrainingSAEConfig,
    JumpReLUTrainingSAE,
    JumpReLUTrainingSAEConfig,
    MatryoshkaBatchTopKTrainingSAE,
    MatryoshkaBatchTopKTrainingSAEConfig,
    TopKTrainingSAE,
    TopKTrainingSAEConfig,
)
from sae_lens.saes.sae import TrainStepInput

path, kind, latents, sparsity, epochs, batch, lr, threads = sys.argv[1:9]
latents, epochs, batch, threads = int(latents), int(epochs), int(batch), int(threads)
sparsity, lr = float(sparsity), float(lr)
torch.set_num_threads(threads)
torch.manual_seed(0)
with h5py.File(path, "r") as f:
    # `data simulate sparse` writes its rows as representation "x".
    x = torch.from_numpy(np.asarray(f["representations/x"], dtype=np.float32))
samples, dims = x.shape
if kind == "topk":
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=dims, d_sae=latents, k=int(sparsity)))
elif kind == "batchtopk":
    sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=dims, d_sae=latents, k=sparsity))
elif kind == "matryoshka":
    widths = [w for w in (latents // 8, latents // 4, latents // 2, latents) if w > 0]
    sae = MatryoshkaBatchTopKTrainingSAE(MatryoshkaBatchTopKTrainingSAEConfig(d_in=dims, d_sae=latents, k=sparsity, matryoshka_widths=widths))
elif kind == "jumprelu":
    sae = JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(d_in=dims, d_sae=latents, l0_coefficient=sparsity))
else:
    sys.exit(f"unknown kind {kind}")
coefficients = {"l0": sparsity} if kind == "jumprelu" else {}
opt = torch.optim.Adam(sae.parameters(), lr=lr)
# A latent is dead after one epoch without firing, as neurozoo's sparse-coding plugin counts it.
window = max(1, samples // batch)
since_fired = torch.zeros(latents, dtype=torch.long)
epoch_seconds = []
for _ in range(epochs):
    began = time.perf_counter()
    for idx in torch.randperm(samples).split(batch):
        out = sae.training_forward_pass(
            TrainStepInput(sae_in=x[idx], coefficients=coefficients, dead_neuron_mask=since_fired >= window, n_training_steps=0)
        )
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        with torch.no_grad():
            fired = (out.feature_acts > 0).any(dim=0)
            since_fired = (since_fired + 1).masked_fill(fired, 0)
    epoch_seconds.append(time.perf_counter() - began)

with torch.no_grad():
    squared, l0 = 0.0, 0.0
    for rows in x.split(4096):
        acts, pre = sae.encode_with_hidden_pre(rows)
        if hasattr(sae, "topk_threshold"):
            acts = pre.relu() * (pre > sae.topk_threshold)
        squared += float(((sae.decode(acts) - rows) ** 2).sum())
        l0 += float((acts > 0).sum())
    total = float(((x - x.mean(0)) ** 2).sum())
print(json.dumps({
    "kind": kind,
    "seconds_per_epoch": float(np.median(epoch_seconds)),
    "l0": l0 / samples,
    "fvu": squared / total,
    "saelens": sae_lens.__version__,
    "torch": torch.__version__,
}))
