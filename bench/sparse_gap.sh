#!/usr/bin/env bash
# The amortisation gap on ground truth (O'Neill, Klindt et al. 2024), through the command line:
# on `data simulate sparse` (N = 16, M = 8, K = 3, 1024 samples) for several seeds, code MCC of
# FISTA dictionary learning, and of ReLU and TopK SAEs' encoders next to FISTA inference on each
# SAE's own decoder. Quality, not speed: no baseline to time against.
#   bench/sparse_gap.sh [SEEDS]   default 3 (seeds 0 .. SEEDS-1)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-3}
make -s setup
cargo build -q --release -p neurozoo --bin neurozoo -p neurozoo-plugin-sparse-coding
nz=target/release/neurozoo
work=target/bench/sparse_gap
rm -rf "$work" && mkdir -p "$work"
sae="--param epochs=1000 --param batch_size=128 --param lr=0.003 --param device=cpu"
for seed in $(seq 0 $((seeds - 1))); do
    $nz data simulate sparse --force --seed "$seed" --out "$work/s$seed.h5" 2>/dev/null
    $nz analyze sparse-coding --repr "$work/s$seed.h5" --out "$work/dl$seed" --seed "$seed" \
        --param lambda=0.03 --param nonnegative=true --param device=cpu 2>/dev/null
    $nz analyze sparse-coding --repr "$work/s$seed.h5" --out "$work/relu$seed" --seed "$seed" --param method=sae-relu --param lambda=0.3 $sae 2>/dev/null
    $nz analyze sparse-coding --repr "$work/s$seed.h5" --out "$work/topk$seed" --seed "$seed" --param method=sae-topk --param lambda=0.03 $sae 2>/dev/null
done
printf '%-6s %-10s %-26s %8s %8s %6s\n' seed method codes dict_mcc code_mcc L0
for seed in $(seq 0 $((seeds - 1))); do
    for m in dl relu topk; do
        tail -n +2 "$work/$m$seed/scores.csv" | while IFS=, read -r method from objective mse l0 dmcc cmcc; do
            printf '%-6s %-10s %-26s %8.4f %8.4f %6.2f\n' "$seed" "$method" "$from" "$dmcc" "$cmcc" "$l0"
        done
    done
done
