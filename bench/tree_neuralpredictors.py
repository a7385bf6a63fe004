"""Load file trees as a sensorium training script does: neuralpredictors' FileTreeDataset with
a DataLoader, iterated once over every trial of every recording (the baseline side of the load
in bench/scale.sh)."""
import collections
import collections.abc
import sys

collections.Mapping = collections.abc.Mapping
collections.Iterable = collections.abc.Iterable
from neuralpredictors.data.datasets import FileTreeDataset  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

n = 0
for tree in sys.argv[1:]:
    ds = FileTreeDataset(tree, "images", "responses", "behavior", "pupil_center")
    for batch in DataLoader(ds, batch_size=64, shuffle=False):
        n += batch.images.shape[0]
print(f"{n} trials in {len(sys.argv) - 1} recordings, images {list(batch.images.shape[1:])} {batch.images.dtype}")
