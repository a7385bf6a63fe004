"""Load a neuralpredictors static HDF5 file into memory with h5py, the way a PyTorch pipeline
does before training: the baseline side of bench/load.sh."""
import sys

import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    images = f["images"][()].astype(np.float32, copy=False)
    responses = f["responses"][()].astype(np.float32, copy=False)
    tiers = f["tiers"][()].astype(str)
    ids = f["item_info/frame_image_id"][()]
    trial_idx = f["item_info/trial_idx"][()]
    units = {k: f["neurons"][k][()] for k in f["neurons"]}
    ground_truth = {k: f["ground_truth"][k][()] for k in f["ground_truth"]} if "ground_truth" in f else {}
print(f"{images.shape[0]} trials, {responses.shape[1]} units, images {list(images.shape[1:])}")
