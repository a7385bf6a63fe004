#!/usr/bin/env bash
# Sweep benchmark: what `neurozoo sweep` (local executor, one point at a time) costs beyond the
# fits themselves. The baseline is the hand-written loop it replaces: the same points' configs
# fitted and evaluated by `neurozoo fit` and `neurozoo eval --json` one after another. Also the
# time to plan (check every config of) a 100-point sweep with --dry-run.
#   bench/sweep.sh [VALUES] [ROUNDS]   defaults: 4 learning rates × 2 seeds, 3 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
values=${1:-4}; rounds=${2:-3}
cargo build -q --release -p neurozoo -p neurozoo-torch
nz=$PWD/target/release/neurozoo
work=$PWD/target/bench/sweep
rm -rf "$work"; mkdir -p "$work"; cd "$work"
$nz data simulate v1 --out v1.h5 --n-units 50 --n-train 800 --n-validation 100 --n-test 20 --n-final-test 0 --repeats 4 \
    --height 24 --width 24 --seed 1 2>/dev/null
cat > base.toml <<'TOML'
preset = "klindt2017"
[model.core]
channels = 8
[train]
max_epochs = 3
TOML
lrs=$(python3 -c "print(', '.join(str(0.002 + 0.001 * i) for i in range($values)))")
cat > sweep.toml <<TOML
base = "base.toml"
seeds = [1, 2]
data = ["v1.h5"]
device = "cpu"
[grid]
"train.lr" = [$lrs]
TOML
points=$((values * 2))

now() { date +%s.%N; }
sweep_s=(); loop_s=()
for r in $(seq "$rounds"); do
    rm -rf out loop
    t0=$(now)
    $nz sweep sweep.toml --out out --jobs 1 2>/dev/null
    t1=$(now)
    mkdir loop
    for cfg in out/points/*/config.toml; do
        name=$(basename "$(dirname "$cfg")")
        $nz fit "$cfg" --data v1.h5 --out "loop/$name" --device cpu --threads "$(nproc)" 2>/dev/null
        $nz eval "loop/$name" --data v1.h5 --device cpu --json > "loop/$name.json" 2>/dev/null
    done
    t2=$(now)
    sweep_s+=("$(echo "$t1 - $t0" | bc)"); loop_s+=("$(echo "$t2 - $t1" | bc)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ms=$(median "${sweep_s[@]}"); ml=$(median "${loop_s[@]}")
echo "points: $points (3 epochs each, 800 training images 24x24, 50 neurons), rounds: $rounds"
echo "sweep (local, --jobs 1):   median $ms s"
echo "fit + eval loop (baseline): median $ml s"
echo "ratio sweep/loop: $(echo "scale=3; $ms / $ml" | bc)   overhead per point: $(echo "scale=3; ($ms - $ml) / $points" | bc) s"

# Planning 100 points: parse, resolve and check each point's config, print the plan.
cat > big.toml <<'TOML'
base = "klindt2017"
seeds = [1, 2, 3, 4]
data = ["v1.h5"]
[grid]
"train.lr" = [0.001, 0.002, 0.003, 0.004, 0.005]
"model.core.channels" = [16, 24, 32, 40, 48]
TOML
dry=()
for r in $(seq 5); do
    t0=$(now); $nz sweep big.toml --out big --dry-run --executor slurm >/dev/null; t1=$(now)
    dry+=("$(echo "$t1 - $t0" | bc)")
done
echo "100-point --dry-run plan (slurm script included): median $(median "${dry[@]}") s over 5"
