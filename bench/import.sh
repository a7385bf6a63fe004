#!/usr/bin/env bash
# Import benchmark: the SENSORIUM 2022 SOTA checkpoint imported into a run and 1000 z-scored
# images predicted, neurozoo (zoo's import_predict example) against torch.load + the starter
# kit's model in PyTorch (bench/import_reference.py), on the same threads; whole processes under
# /usr/bin/time (one warm-up each, then ROUNDS each; medians, ratio), and each side's own
# import and predict seconds from its last run.
#   bench/import.sh [N] [THREADS] [ROUNDS]      defaults: 1000 images, 1 thread, 5 rounds
# PROFILE=dev builds the example unoptimised-ish (the workspace's opt-level 1); default release.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}; threads=${2:-1}; rounds=${3:-5}; profile=${PROFILE:-release}
checkpoint=${CHECKPOINT:-../shared/checkpoints/sensorium_sota_model.pth}
[ -f "$checkpoint" ] || { echo "no checkpoint at $checkpoint (see shared/checkpoints/README.md)" >&2; exit 1; }
source bench/timing.sh
source bench/reference_env.sh
cargo build -q --profile "$profile" -p neurozoo-zoo --example import_predict
dir=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/examples
ours=("$dir/import_predict" "$checkpoint" "$n" "$threads")
theirs=(.venv-bench/bin/python bench/import_reference.py "$checkpoint" "$n" "$threads")
out=target/bench/import; mkdir -p "$out"
"${ours[@]}" > "$out/neurozoo.txt"; "${theirs[@]}" 2>/dev/null > "$out/pytorch.txt"
{
    measure neurozoo "${ours[@]}"
    measure pytorch "${theirs[@]}"
} > "$out/times"
medians "$out/times"
"${ours[@]}" > "$out/neurozoo.txt"; "${theirs[@]}" 2>/dev/null > "$out/pytorch.txt"
paste "$out/neurozoo.txt" "$out/pytorch.txt" | awk '{printf "%-9s neurozoo %10s  pytorch %10s\n", $1, $2, $4}'
