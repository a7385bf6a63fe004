"""Load a file tree as a sensorium training script does: neuralpredictors' FileTreeDataset
with a DataLoader, iterated once over every trial (the baseline side of bench/tree.sh)."""
import collections
import collections.abc
import sys

collections.Mapping = collections.abc.Mapping
collections.Iterable = collections.abc.Iterable
from neuralpredictors.data.datasets import FileTreeDataset  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

ds = FileTreeDataset(sys.argv[1], "images", "responses", "behavior", "pupil_center")
n = 0
for batch in DataLoader(ds, batch_size=64, shuffle=False):
    n += batch.images.shape[0]
print(f"{n} trials, images {list(batch.images.shape[1:])} {batch.images.dtype}")
