"""One training epoch of the sensorium 2022 baseline over several recordings, as the sensorium
trainer runs it (the baseline side of bench/scale.sh): FileTreeDataset + NeuroNormalizer +
AddBehaviorAsChannels, a shared Stacked2dCore (4 depth-separable layers, 64 channels, 9/7), one
FullGaussian2d readout (positions from the cortex: grid_mean_predictor) and MLPShifter per
recording, ELU+1, LongCycler, the Poisson loss scaled by sqrt(N / batch) plus the regularisers
per batch, one Adam step per cycle over the recordings, then the validation correlation. Prints the epoch's seconds (training + validation) as JSON.

    scale_neuralpredictors.py THREADS EPOCHS TREE [TREE ...]
"""
import collections
import collections.abc
import json
import sys
import time
import types

# Import shims, as bench/fit_neuralpredictors.py: neuralpredictors 0.3.0 imports names Python 3.10
# removed from `collections`, and torchvision, which only its TransferLearningCore uses.
collections.Mapping = collections.abc.Mapping
collections.Iterable = collections.abc.Iterable
sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from neuralpredictors.data.datasets import FileTreeDataset  # noqa: E402
from neuralpredictors.data.samplers import SubsetSequentialSampler  # noqa: E402
from neuralpredictors.data.transforms import AddBehaviorAsChannels, NeuroNormalizer, ToTensor  # noqa: E402
from neuralpredictors.layers.cores import Stacked2dCore  # noqa: E402
from neuralpredictors.layers.encoders import FiringRateEncoder  # noqa: E402
from neuralpredictors.layers.readouts import FullGaussian2d, MultiReadoutBase  # noqa: E402
from neuralpredictors.layers.shifters import MLPShifter  # noqa: E402
from neuralpredictors.measures.modules import PoissonLoss  # noqa: E402
from neuralpredictors.training import LongCycler  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torch.utils.data.sampler import SubsetRandomSampler  # noqa: E402

threads, epochs, trees = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
torch.set_num_threads(threads)
torch.manual_seed(42)
train, validation = {}, {}
for k, tree in enumerate(trees):
    ds = FileTreeDataset(tree, "images", "responses", "behavior", "pupil_center")
    ds.transforms.extend([NeuroNormalizer(ds), AddBehaviorAsChannels(), ToTensor(False)])
    tiers = ds.trial_info.tiers
    key = str(k)
    train[key] = DataLoader(ds, sampler=SubsetRandomSampler(np.where(tiers == "train")[0]), batch_size=128)
    validation[key] = DataLoader(ds, sampler=SubsetSequentialSampler(np.where(tiers == "validation")[0]), batch_size=128)

first = next(iter(train["0"]))
core = Stacked2dCore(
    input_channels=first.images.shape[1], hidden_channels=64, input_kern=9, hidden_kern=7, layers=4, gamma_input=6.3831,
    gamma_hidden=0, final_nonlinearity=True, momentum=0.9, pad_input=False, batch_norm=True, laplace_padding=None,
    input_regularizer="LaplaceL2norm", use_avg_reg=False, stack=-1, depth_separable=True,
)
with torch.no_grad():
    shape = core(first.images[:1]).shape[1:]
readout = MultiReadoutBase(
    {k: shape for k in train}, {k: next(iter(l)).responses.shape[1] for k, l in train.items()}, base_readout=FullGaussian2d,
    bias=True, init_mu_range=0.3, init_sigma=0.1, gauss_type="full", feature_reg_weight=0.0076,
)
# The baseline's cortex grid_mean_predictor: each readout's positions from its recording's
# cell_motor_coordinates (sensorium's prepare_grid, input_dimensions 2).
for k, tree in enumerate(trees):
    key = str(k)
    readout[key] = FullGaussian2d(
        shape, readout[key].outdims, bias=True, init_mu_range=0.3, init_sigma=0.1, gauss_type="full", feature_reg_weight=0.0076,
        grid_mean_predictor={"hidden_layers": 1, "hidden_features": 30, "final_tanh": True},
        source_grid=train[key].dataset.neurons.cell_motor_coordinates[:, :2],
    )
shifter = MLPShifter(list(train), input_channels=2, hidden_channels_shifter=5, shift_layers=3)
model = FiringRateEncoder(core, readout, shifter=shifter)
optimizer = torch.optim.Adam(model.parameters(), lr=0.009)
criterion = PoissonLoss(avg=False)
steps = len(train)
seconds = []
for epoch in range(epochs):
    start = time.perf_counter()
    model.train()
    optimizer.zero_grad()
    for batch_no, (key, batch) in enumerate(LongCycler(train)):
        scale = np.sqrt(len(train[key].dataset) / batch.images.shape[0])
        out = model(batch.images, data_key=key, pupil_center=batch.pupil_center)
        loss = scale * criterion(out, batch.responses) + model.regularizer(data_key=key)
        loss.backward()
        if (batch_no + 1) % steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    model.eval()
    correlations = []
    with torch.no_grad():
        for key, loader in validation.items():
            y, yhat = [], []
            for batch in loader:
                yhat.append(model(batch.images, data_key=key, pupil_center=batch.pupil_center).numpy())
                y.append(batch.responses.numpy())
            y, yhat = np.concatenate(y), np.concatenate(yhat)
            y, yhat = (y - y.mean(0)) / (y.std(0) + 1e-8), (yhat - yhat.mean(0)) / (yhat.std(0) + 1e-8)
            correlations.append((y * yhat).mean(0))
    seconds.append(time.perf_counter() - start)
print(json.dumps({"seconds_per_epoch": seconds, "validation_correlation": float(np.concatenate(correlations).mean())}))
