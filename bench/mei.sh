#!/usr/bin/env bash
# MEIs on the imported SENSORIUM 2022 SOTA model: neurozoo's batched optimisation (one image
# per unit, one batch) against the same procedure in PyTorch on the model exported back to
# neuralpredictors (bench/mei_torch.py): (a) one unit at a time, as sinzlab/mei runs it, and
# (b) batched as neurozoo does. Same steps, norm, range, blur and threads; whole processes
# timed in turn (bench/timing.sh: medians and ratios to the last, (b)).
#   bench/mei.sh [UNITS] [STEPS] [RUNS] [DEVICE]
#   defaults: 256 units spread over the 7776, 200 steps, 1 run, cpu. PROFILE=dev: the test build.
# The norm budget is 48 = sqrt(36 x 64), the expected L2 norm of an image z-scored with one
# dataset-wide mean and std (mean square 1 per pixel), the range +-3 (docs/insilico.md).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-256}; steps=${2:-200}; rounds=${3:-1}; device=${4:-cpu}
source bench/timing.sh
make -s setup
tools/setup.sh --test-deps >/dev/null
# PROFILE=dev uses the (optimised) test build instead of a release build.
if [ "${PROFILE:-release}" = dev ]; then cargo build -q --workspace; nz=$PWD/target/debug/neurozoo
else cargo build -q --release --workspace; nz=$PWD/target/release/neurozoo; fi
work=$PWD/target/bench/mei
mkdir -p "$work"
checkpoint=${SENSORIUM_CHECKPOINT:-$PWD/../shared/checkpoints/sensorium_sota_model.pth}
if [ ! -d "$work/sota" ]; then
    printf '[model]\nbehavior_channels = false\nshifter = false\n' > "$work/sota.toml"
    $nz import "$checkpoint" --arch sensorium2022 --config "$work/sota.toml" --out "$work/sota"
fi
[ -d "$work/export" ] || $nz export "$work/sota" --to neuralpredictors --out "$work/export"
units=$(python3 -c "print(','.join(str(i * 7776 // $n) for i in range($n)))")
threads=$(nproc)
echo "MEIs of $n SENSORIUM SOTA units, $steps steps, norm 48, range -3..3, blur sigma 1, $threads threads, $device"
{
    measure neurozoo sh -c "rm -rf $work/nz && exec $nz insilico mei $work/sota --out $work/nz --units $units --steps $steps --norm 48 --range=-3,3 --device $device"
    measure pytorch-one-unit-at-a-time .venv/bin/python bench/mei_torch.py "$work/export" "$units" "$steps" 48 -3 3 "$threads" one
    measure pytorch-batched .venv/bin/python bench/mei_torch.py "$work/export" "$units" "$steps" 48 -3 3 "$threads" batched
} > "$work/times.txt"
medians "$work/times.txt"
