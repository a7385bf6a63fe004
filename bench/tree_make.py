"""Write a sensorium-shaped recording for bench/scale.sh: a neuralpredictors static HDF5 file
with uint8 images, behaviour, pupil position and the statistics NeuroNormalizer reads, converted
by neuralpredictors' own converter into the file tree OUT and zipped by its own zip_dir (what
FileTreeDataset.zip does) into OUT.zip. The recording's name is OUT's last component.

    tree_make.py OUT TRIALS UNITS HEIGHT WIDTH [SEED]
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
rng = np.random.default_rng(int(sys.argv[6]) if len(sys.argv) > 6 else 0)
out.parent.mkdir(parents=True, exist_ok=True)
h5 = out.with_suffix(".h5")
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
    # What neuralpredictors' NeuroNormalizer reads, over all trials as its `all` means.
    for key in ["images", "responses", "behavior", "pupil_center"]:
        values = f[key][()].astype(np.float64)
        axis = None if key == "images" else 0
        for name, stat in [("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max), ("median", np.median)]:
            f[f"statistics/{key}/all/{name}"] = stat(values, axis=axis)
convert_static_h5_dataset_to_folder(str(h5), outpath=out)
zip_dir(str(out.with_suffix(".zip")), out)
h5.unlink()
print(f"wrote {out} (and .zip): {n} trials of {h}x{w} uint8 images, {units} units")
