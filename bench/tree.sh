#!/usr/bin/env bash
# File-tree load benchmark: one sensorium-shaped recording (uint8 images) as neuralpredictors'
# converter writes it, loaded whole by neurozoo (directory and .zip) and iterated once by
# neuralpredictors' FileTreeDataset + DataLoader, each ROUNDS times in turn; prints the median
# wall time and peak RSS (/usr/bin/time) of each, their ratios, and peak RSS over the image bytes.
#   bench/tree.sh [TRIALS] [UNITS] [HEIGHT] [WIDTH] [ROUNDS]   defaults: 6000 8000 144 256 3
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-6000}; units=${2:-8000}; h=${3:-144}; w=${4:-256}; rounds=${5:-3}
source bench/reference_env.sh
cargo build -q --release -p neurozoo-datasets --example load
work=target/bench/tree_${n}_${units}_${h}x${w}
[ -d "$work/recording" ] || .venv-bench/bin/python bench/tree_make.py "$work" "$n" "$units" "$h" "$w"
rm -f "$work/recording/config.json"
du -sh "$work/recording" "$work/recording.zip"

measure() { # name command...: one line "name seconds kilobytes" per round
    local name=$1; shift
    for _ in $(seq "$rounds"); do
        /usr/bin/time -f "$name %e %M" "$@" 2>&1 >/dev/null | tail -1
    done
}
{
    measure neurozoo-dir target/release/examples/load "$work/recording"
    measure neurozoo-zip target/release/examples/load "$work/recording.zip"
    measure neuralpredictors .venv-bench/bin/python bench/tree_neuralpredictors.py "$work/recording"
} > "$work/times.txt"
python3 - "$work/times.txt" "$n" "$h" "$w" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
n, h, w = map(int, sys.argv[2:5])
med = lambda name, i: statistics.median(float(r[i]) for r in rows if r[0] == name)
image_mb = n * h * w / 2**20
print(f"{n} trials of {h}x{w} uint8 images ({image_mb:.0f} MiB); medians of {sum(r[0] == 'neuralpredictors' for r in rows)} rounds")
print(f"{'':18}{'wall s':>10}{'peak RSS MiB':>14}{'RSS / images':>14}")
for name in ["neurozoo-dir", "neurozoo-zip", "neuralpredictors"]:
    print(f"{name:18}{med(name, 1):10.2f}{med(name, 2) / 1024:14.0f}{med(name, 2) / 1024 / image_mb:14.2f}")
for name in ["neurozoo-dir", "neurozoo-zip"]:
    print(f"{name} / neuralpredictors: wall {med(name, 1) / med('neuralpredictors', 1):.2f}, peak RSS {med(name, 2) / med('neuralpredictors', 2):.2f}")
PY
