"""bench/import.sh's PyTorch side: torch.load the SENSORIUM 2022 SOTA checkpoint, build the
starter kit's model with neuralpredictors 0.3.0 (zoo/tests/fixtures/make_sensorium_golden.py's
builder), load it strictly, and predict N z-scored 1 x 36 x 64 images in batches of 100 on the
CPU; prints `import SECONDS`, `predict SECONDS` and a checksum of the rates.

    .venv-bench/bin/python bench/import_reference.py CHECKPOINT [N] [THREADS]
"""

import importlib.util
import sys
import time
from pathlib import Path

import torch


def main():
    checkpoint = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    torch.manual_seed(0)
    images = torch.randn(n, 1, 36, 64)
    path = Path(__file__).resolve().parents[1] / "zoo/tests/fixtures/make_sensorium_golden.py"
    spec = importlib.util.spec_from_file_location("golden", path)
    golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(golden)

    start = time.perf_counter()
    sd = torch.load(checkpoint, map_location="cpu", weights_only=True)
    source_grid = sd[f"readout.{golden.DATA_KEY}.source_grid"].numpy()
    model = golden.build(source_grid, source_grid.shape[0])
    model.load_state_dict(sd, strict=True)
    model.eval()
    print(f"import {time.perf_counter() - start:.4f}")

    start = time.perf_counter()
    total = 0.0
    with torch.no_grad():
        for batch in images.split(100):
            total += model(batch, data_key=golden.DATA_KEY).double().sum().item()
    print(f"predict {time.perf_counter() - start:.4f}")
    print(f"checksum {total:.6e}")


if __name__ == "__main__":
    main()
