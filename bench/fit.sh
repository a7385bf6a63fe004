#!/usr/bin/env bash
# Fit benchmark: the klindt2017 architecture (Stacked2dCore + factorised readout) fitted to the
# same simulated data by neurozoo and by neuralpredictors 0.3.0 (PyTorch, the same libtorch),
# side by side: seconds per epoch (training pass + validation correlation), time to accuracy
# (wall seconds until the validation correlation first reaches 95% of the best either side
# reaches) and test correlation after the same number of epochs, best epoch restored in both.
#   bench/fit.sh [EPOCHS] [THREADS] [ROUNDS] [DEVICE] [HxW]
#   defaults: 10 epochs, 2 threads, 1 round, cpu, the simulator's 32x32 images (36x64 is the
#   sensorium images downsampled 4x, where the convolutions are most of an epoch)
# DEVICE cuda runs both sides on the first GPU. MEMORY_FORMAT=contiguous|channels_last sets
# neurozoo's `[train] memory_format` (default auto: channels-last on the CPU, contiguous on CUDA).
# PRECISION=bf16 trains both sides in bf16 mixed precision (neurozoo's `[train] precision`,
# torch.autocast for the reference); default fp32.
# NEUROZOO=path/to/neurozoo and REFERENCE_PYTHON=python3 use a prebuilt binary and a Python that
# has torch and numpy instead of building here (bench/gpu.sh does so on a machine without Rust).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-10}; threads=${2:-2}; rounds=${3:-1}; device=${4:-cpu}; size=${5:-32x32}
if [ -z "${NEUROZOO:-}" ]; then
    source bench/reference_env.sh
    cargo build -q --release -p neurozoo -p neurozoo-torch
fi
nz=${NEUROZOO:-target/release/neurozoo}
py=${REFERENCE_PYTHON:-.venv-bench/bin/python}

work=target/bench/fit
mkdir -p "$work"
# A file tree, which the reference reads with numpy alone (h5py is not on every GPU image).
data=$work/v1_$size
[ -d "$data" ] || $nz data simulate v1 --tree --height "${size%x*}" --width "${size#*x}" --out "$data"
cat > "$work/config.toml" <<TOML
preset = "klindt2017"
[train]
max_epochs = $epochs
# No learning-rate decay inside the benchmark's fixed number of epochs, as in the reference.
patience = $((epochs + 1))
memory_format = "${MEMORY_FORMAT:-auto}"
precision = "${PRECISION:-fp32}"
TOML

for round in $(seq "$rounds"); do
    run=$work/neurozoo-$round
    rm -rf "$run"
    $nz fit "$work/config.toml" --data "$data" --out "$run" --threads "$threads" --device "$device" --seed "$round" 2>/dev/null
    $nz eval "$run" --data "$data" --json > "$run/eval.json"
    PRECISION=${PRECISION:-fp32} "$py" bench/fit_neuralpredictors.py "$data" "$epochs" "$threads" "$round" "$device" > "$work/neuralpredictors-$round.json"
done

"$py" - "$work" "$rounds" "$epochs" "$threads" "$device" "$size" <<'PY'
import csv, itertools, json, statistics, sys
work, rounds, epochs, threads, device, size = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]
runs = {"neurozoo": [], "neuralpredictors": []}  # per round: (seconds per epoch, validation per epoch, test)
for r in range(1, rounds + 1):
    rows = list(csv.DictReader(open(f"{work}/neurozoo-{r}/metrics.csv")))
    test = json.load(open(f"{work}/neurozoo-{r}/eval.json"))["test"]["correlation"]
    runs["neurozoo"].append(([float(x["seconds"]) for x in rows], [float(x["validation_correlation"]) for x in rows], test))
    ref = json.load(open(f"{work}/neuralpredictors-{r}.json"))
    runs["neuralpredictors"].append((ref["seconds_per_epoch"], ref["validation_correlation"], ref["test_correlation"]))
# Time to accuracy: the target is 95% of the best validation correlation either side reached.
target = 0.95 * max(max(v) for rs in runs.values() for _, v, _ in rs)
def time_to(seconds, val):
    for t, v in zip(itertools.accumulate(seconds), val):
        if v >= target:
            return t
    return float("inf")
med = statistics.median
setting = {l.split()[0]: l.split('"')[1] for l in open(f"{work}/config.toml") if l.startswith(("memory_format", "precision"))}
print(f"klindt2017 on {work}/v1_{size}, {epochs} epochs, {threads} threads, {rounds} round(s), {device}, "
      f"precision {setting['precision']}, neurozoo memory_format {setting['memory_format']}")
print(f"{'':18}{'s/epoch (median)':>18}{'s to val ' + format(target, '.3f'):>18}{'test correlation':>18}")
summary = {}
for name, rs in runs.items():
    s = med(x for sec, _, _ in rs for x in sec)
    tta = med(time_to(sec, val) for sec, val, _ in rs)
    summary[name] = (s, tta)
    print(f"{name:18}{s:18.3f}{tta:18.2f}{statistics.mean(t for _, _, t in rs):18.3f}")
(s, tta), (rs_, rtta) = summary["neurozoo"], summary["neuralpredictors"]
print(f"neurozoo / neuralpredictors: time per epoch {s / rs_:.2f}, time to accuracy {tta / rtta:.2f}")
PY
