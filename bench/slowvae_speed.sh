#!/usr/bin/env bash
# SlowVAE training speed: steps per second of `neurozoo fit slowvae` against the reference's
# training step ported to PyTorch (bench/slowvae_torch.py) on the same device and threads, side
# by side. neurozoo's seconds are its training loop's (training.csv), the reference's its loop's.
#   bench/slowvae_speed.sh [STEPS] [THREADS] [DEVICE] [ROUNDS]
#   defaults: 500 steps, 2 threads, cpu, 2 rounds
# PRECISION=bf16 trains both in bf16 mixed precision (`[train] precision`, torch.autocast).
# NEUROZOO=path and REFERENCE_PYTHON=python3 as in bench/fit.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-500}; threads=${2:-2}; device=${3:-cpu}; rounds=${4:-2}; precision=${PRECISION:-fp32}
if [ -z "${NEUROZOO:-}" ]; then
    make -s setup
    cargo build -q --release -p neurozoo -p neurozoo-torch
fi
nz=${NEUROZOO:-target/release/neurozoo}
py=${REFERENCE_PYTHON:-.venv/bin/python}
work=target/bench/slowvae_speed
mkdir -p "$work"
[ -f "$work/sprites.h5" ] || $nz data simulate sprites --out "$work/sprites.h5" --pairs 2000 --seed 1 2>/dev/null
printf 'preset = "slowvae"\n[train]\nlog_every = %s\nprecision = "%s"\n' "$steps" "$precision" > "$work/slowvae.toml"
for round in $(seq "$rounds"); do
    rm -rf "$work/run"
    $nz fit "$work/slowvae.toml" --data "$work/sprites.h5" --out "$work/run" --iterations "$steps" \
        --threads "$threads" --device "$device" 2>/dev/null
    tail -1 "$work/run/training.csv" > "$work/neurozoo-$round.csv"
    head -1 "$work/run/training.csv" > "$work/header.csv"
    PRECISION=$precision "$py" bench/slowvae_torch.py "$steps" "$threads" "$device" > "$work/reference-$round.json"
done
"$py" - "$work" "$rounds" "$steps" "$threads" "$device" "$precision" <<'PY'
import csv, json, statistics, sys
work, rounds, steps, threads, device, precision = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
header = open(f"{work}/header.csv").read().strip().split(",")
ours = [steps / float(dict(zip(header, open(f"{work}/neurozoo-{r}.csv").read().strip().split(",")))["seconds"]) for r in range(1, rounds + 1)]
ref = [json.load(open(f"{work}/reference-{r}.json"))["steps_per_second"] for r in range(1, rounds + 1)]
print(f"slowvae training, {steps} steps of 32 pairs, {threads} threads, {device}, {precision}, {rounds} round(s)")
print(f"neurozoo            {statistics.median(ours):8.1f} steps/s  (rounds: {', '.join(f'{x:.1f}' for x in ours)})")
print(f"reference (PyTorch) {statistics.median(ref):8.1f} steps/s  (rounds: {', '.join(f'{x:.1f}' for x in ref)})")
print(f"neurozoo / reference steps per second: {statistics.median(ours) / statistics.median(ref):.2f}")
PY
