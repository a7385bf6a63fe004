#!/usr/bin/env bash
# Fit benchmark: the klindt2017 architecture (Stacked2dCore + factorised readout) fitted to the
# same simulated data by neurozoo and by neuralpredictors 0.3.0 (PyTorch, the same libtorch),
# side by side: seconds per epoch (training pass + validation correlation) and test correlation
# after the same number of epochs, best epoch restored in both.
#   bench/fit.sh [EPOCHS] [THREADS] [ROUNDS] [DEVICE]   defaults: 10 epochs, 2 threads, 1 round, cpu
# DEVICE cuda runs both sides on the first GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-10}; threads=${2:-2}; rounds=${3:-1}; device=${4:-cpu}
source bench/reference_env.sh
cargo build -q --release -p neurozoo
nz=target/release/neurozoo

work=target/bench/fit
mkdir -p "$work"
data=$work/v1.h5
[ -f "$data" ] || $nz data simulate v1 --out "$data"
cat > "$work/config.toml" <<TOML
preset = "klindt2017"
[train]
max_epochs = $epochs
# No learning-rate decay inside the benchmark's fixed number of epochs, as in the reference.
patience = $((epochs + 1))
TOML

for round in $(seq "$rounds"); do
    run=$work/neurozoo-$round
    rm -rf "$run"
    $nz fit "$work/config.toml" --data "$data" --out "$run" --threads "$threads" --device "$device" --seed "$round" 2>/dev/null
    $nz eval "$run" --data "$data" --json > "$run/eval.json"
    .venv-bench/bin/python bench/fit_neuralpredictors.py "$data" "$epochs" "$threads" "$round" "$device" > "$work/neuralpredictors-$round.json"
done

.venv-bench/bin/python - "$work" "$rounds" "$epochs" "$threads" "$device" <<'PY'
import csv, json, statistics, sys
work, rounds, epochs, threads, device = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ours_s, ref_s, ours_c, ref_c = [], [], [], []
for r in range(1, rounds + 1):
    rows = list(csv.DictReader(open(f"{work}/neurozoo-{r}/metrics.csv")))
    ours_s += [float(x["seconds"]) for x in rows]
    ours_c.append(json.load(open(f"{work}/neurozoo-{r}/eval.json"))["test"]["correlation"])
    ref = json.load(open(f"{work}/neuralpredictors-{r}.json"))
    ref_s += ref["seconds_per_epoch"]
    ref_c.append(ref["test_correlation"])
med = statistics.median
print(f"klindt2017 on {work}/v1.h5, {epochs} epochs, {threads} threads, {rounds} round(s), {device}")
print(f"{'':18}{'s/epoch (median)':>18}{'test correlation':>18}")
print(f"{'neurozoo':18}{med(ours_s):18.2f}{statistics.mean(ours_c):18.3f}")
print(f"{'neuralpredictors':18}{med(ref_s):18.2f}{statistics.mean(ref_c):18.3f}")
print(f"time per epoch, neurozoo / neuralpredictors: {med(ours_s) / med(ref_s):.2f}")
PY
