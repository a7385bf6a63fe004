#!/usr/bin/env bash
# Field-scale benchmark, neurozoo against neuralpredictors 0.3.0 on the same file trees (written
# by neuralpredictors' own converter, bench/tree_make.py), each command ROUNDS times in turn,
# medians of /usr/bin/time's wall time and peak RSS:
#  1. load: RECORDINGS sensorium-sized recordings (TRIALS trials of HxW uint8 images, UNITS
#     neurons, behaviour, pupil): neurozoo holds them all in memory (directories, then the zips),
#     neuralpredictors' FileTreeDataset + DataLoader (batch 64) iterates once over every one;
#  2. one epoch of the sensorium2022 model on 2 recordings at a reduced size (EPOCH_TRIALS trials
#     of 36x64 images, 1000 neurons): `neurozoo fit sensorium2022` against the sensorium trainer's
#     loop (bench/scale_neuralpredictors.py), seconds of training + validation.
#   bench/scale.sh [RECORDINGS] [TRIALS] [UNITS] [HEIGHT] [WIDTH] [ROUNDS] [EPOCH_TRIALS] [THREADS]
#   defaults: 7 6000 8000 144 256 3 2000 2
set -euo pipefail
cd "$(dirname "$0")/.."
k=${1:-7}; n=${2:-6000}; units=${3:-8000}; h=${4:-144}; w=${5:-256}; rounds=${6:-3}; epoch_n=${7:-2000}; threads=${8:-2}
source bench/reference_env.sh
source bench/timing.sh
cargo build -q --release -p neurozoo -p neurozoo-torch -p neurozoo-datasets --bins --example load
work=target/bench/scale
mkdir -p "$work"

trees=(); zips=()
for i in $(seq "$k"); do
    tree=$work/rec${i}_${n}_${units}_${h}x${w}
    [ -d "$tree" ] || .venv-bench/bin/python bench/tree_make.py "$tree" "$n" "$units" "$h" "$w" "$i" >/dev/null 2>&1
    rm -f "$tree/config.json"
    trees+=("$tree"); zips+=("$tree.zip")
done
du -shc "${trees[@]}" | tail -1

{
    measure neurozoo-dir target/release/examples/load "${trees[@]}"
    measure neurozoo-zip target/release/examples/load "${zips[@]}"
    measure neuralpredictors .venv-bench/bin/python bench/tree_neuralpredictors.py "${trees[@]}"
} > "$work/load.txt"

# The epoch: two smaller recordings with behaviour and pupil position.
small=()
for i in 1 2; do
    tree=$work/epoch${i}_${epoch_n}_36x64
    [ -d "$tree" ] || .venv-bench/bin/python bench/tree_make.py "$tree" "$epoch_n" 1000 36 64 "$((100 + i))" >/dev/null 2>&1
    rm -f "$tree/config.json"
    small+=("$tree")
done
: > "$work/epoch.txt"
for round in $(seq "$rounds"); do
    run=$work/epoch-run-$round
    rm -rf "$run"
    target/release/neurozoo fit sensorium2022 --data "${small[0]}" --data "${small[1]}" --out "$run" --max-epochs 1 \
        --threads "$threads" --device cpu 2>/dev/null
    echo "neurozoo $(tail -1 "$run/metrics.csv" | awk -F, '{print $NF}')" >> "$work/epoch.txt"
    .venv-bench/bin/python bench/scale_neuralpredictors.py "$threads" 1 "${small[@]}" 2>/dev/null \
        | python3 -c 'import json, sys; print("neuralpredictors", json.load(sys.stdin)["seconds_per_epoch"][0])' >> "$work/epoch.txt"
done

python3 - "$work" "$k" "$n" "$h" "$w" "$epoch_n" "$threads" <<'PY'
import statistics, sys
work, k, n, h, w, epoch_n, threads = sys.argv[1], *map(int, sys.argv[2:])
rows = [l.split() for l in open(f"{work}/load.txt")]
med = lambda name, i: statistics.median(float(r[i]) for r in rows if r[0] == name)
image_mb = k * n * h * w / 2**20
print(f"load: {k} recordings of {n} trials, {h}x{w} uint8 images ({image_mb:.0f} MiB of images); medians of {sum(r[0] == 'neuralpredictors' for r in rows)} rounds")
print(f"{'':18}{'wall s':>10}{'peak RSS MiB':>14}{'RSS / images':>14}")
for name in ["neurozoo-dir", "neurozoo-zip", "neuralpredictors"]:
    print(f"{name:18}{med(name, 1):10.2f}{med(name, 2) / 1024:14.0f}{med(name, 2) / 1024 / image_mb:14.2f}")
for name in ["neurozoo-dir", "neurozoo-zip"]:
    print(f"{name} / neuralpredictors: wall {med(name, 1) / med('neuralpredictors', 1):.2f}, peak RSS {med(name, 2) / med('neuralpredictors', 2):.2f}")
rows = [l.split() for l in open(f"{work}/epoch.txt")]
ours = statistics.median(float(r[1]) for r in rows if r[0] == "neurozoo")
ref = statistics.median(float(r[1]) for r in rows if r[0] == "neuralpredictors")
print(f"epoch: sensorium2022 on 2 recordings of {epoch_n} trials (36x64), {threads} threads: neurozoo {ours:.1f} s, sensorium trainer loop {ref:.1f} s, ratio {ours / ref:.2f}")
PY
