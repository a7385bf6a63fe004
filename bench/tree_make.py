"""Write a sensorium-shaped recording for bench/tree.sh: a neuralpredictors static HDF5 file
with uint8 images, converted by neuralpredictors' own converter into a file tree and zipped
by its own zip_dir (what FileTreeDataset.zip does).

    tree_make.py OUT_DIR TRIALS UNITS HEIGHT WIDTH
"""
import collections
import collections.abc
import sys
from pathlib import Path

import h5py
import numpy as np

# neuralpredictors 0.3.0 imports names that Python 3.10 removed from `collections`.
collections.Mapping = collections.abc.Mapping
collections.Iterable = collections.abc.Iterable
from neuralpredictors.data.utils import convert_static_h5_dataset_to_folder, zip_dir  # noqa: E402

out, n, units, h, w = Path(sys.argv[1]), *map(int, sys.argv[2:6])
rng = np.random.default_rng(0)
out.mkdir(parents=True, exist_ok=True)
h5 = out / "recording.h5"
# Smooth images (as natural images are), so deflate compresses them as it would real ones.
base = rng.integers(0, 256, size=(n, 1, h // 8, w // 8), dtype=np.uint8)
images = np.repeat(np.repeat(base, 8, axis=2), 8, axis=3)[:, :, :h, :w]
tiers = np.array([b"train"] * (n * 8 // 10) + [b"validation"] * (n // 10) + [b"test"] * (n - n * 8 // 10 - n // 10))
with h5py.File(h5, "w") as f:
    f["images"] = images
    f["responses"] = rng.gamma(1.0, 1.0, size=(n, units)).astype(np.float32)
    f["behavior"] = rng.normal(size=(n, 3)).astype(np.float32)
    f["pupil_center"] = rng.normal(size=(n, 2)).astype(np.float32)
    f["tiers"] = tiers
    f["item_info/frame_image_id"] = np.arange(n)
    f["item_info/trial_idx"] = np.arange(n)
    f["neurons/unit_ids"] = np.arange(units)
    f["neurons/cell_motor_coordinates"] = rng.normal(size=(units, 3)).astype(np.float32)
    f["statistics/images/all/mean"] = images.mean()
convert_static_h5_dataset_to_folder(str(h5), outpath=out / "recording")
zip_dir(str(out / "recording.zip"), out / "recording")
print(f"wrote {out}/recording (and .zip): {n} trials of {h}x{w} uint8 images, {units} units")
