#!/usr/bin/env bash
# Load-time benchmark: neurozoo's static HDF5 reader against h5py on the same file, whole
# processes run in turn under /usr/bin/time (one warm-up each, then ROUNDS each; medians, ratio).
#   bench/load.sh [N_TRAIN] [HEIGHT] [WIDTH] [ROUNDS]      defaults: 30000 trials of 36x64 images, 7
set -euo pipefail
cd "$(dirname "$0")/.."
n_train=${1:-30000}; height=${2:-36}; width=${3:-64}; rounds=${4:-7}
source bench/timing.sh
make -s setup
if [ ! -x .venv-bench/bin/python ]; then python3 -m venv .venv-bench; fi
.venv-bench/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
cargo build -q --release -p neurozoo --bin neurozoo
cargo build -q --release -p neurozoo-datasets --example load
file=${BENCH_FILE:-target/bench/load_${n_train}_${height}x${width}.h5}
mkdir -p "$(dirname "$file")"
if [ ! -f "$file" ]; then
    target/release/neurozoo data simulate v1 --out "$file" --n-train "$n_train" --height "$height" --width "$width"
fi
ls -lh "$file"
target/release/examples/load "$file" >/dev/null && .venv-bench/bin/python bench/load_h5py.py "$file" >/dev/null
{
    measure neurozoo target/release/examples/load "$file"
    measure h5py .venv-bench/bin/python bench/load_h5py.py "$file"
} > "$file.times"
medians "$file.times"
