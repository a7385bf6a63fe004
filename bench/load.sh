#!/usr/bin/env bash
# Load-time benchmark: neurozoo's static HDF5 reader against h5py on the same file, run in turn
# by farm-bench (whole processes, medians, the ratio taken pair by pair).
#   bench/load.sh [N_TRAIN] [HEIGHT] [WIDTH]      defaults: 30000 trials of 36x64 images
set -euo pipefail
cd "$(dirname "$0")/.."
n_train=${1:-30000}; height=${2:-36}; width=${3:-64}
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
echo "A = neurozoo (neurozoo_datasets::load), B = h5py (bench/load_h5py.py)"
farm-bench -n 7 --warmup 2 --timeout 600 --vs ".venv-bench/bin/python bench/load_h5py.py $file" \
    -- target/release/examples/load "$file"
