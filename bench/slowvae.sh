#!/usr/bin/env bash
# Quality, not speed: SlowVAE against its β-VAE baseline on LAP sprite pairs, several seeds, at a
# CPU-sized budget. Both presets are fitted to the same training pairs with the same steps and
# learning rate, then scored on held-out pairs (MCC = mean |Spearman ρ| of factors and matched
# posterior means, as the reference; MIG with 20 bins).
#   bench/slowvae.sh [SEEDS] [ITERATIONS] [LR] [PAIRS] [POINTS] [NEUROZOO]
#   defaults: 3 seeds, 2500 steps, lr 5e-4, 20000 training pairs, 500 BetaVAE/FactorVAE
#   training points (`eval --intervention-points`), target/debug/neurozoo
# The reference trains 300 000 steps at lr 1e-4; a CPU run cannot, so the rate is raised.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-3}; iterations=${2:-2500}; lr=${3:-5e-4}; pairs=${4:-20000}; points=${5:-500}; nz=${6:-target/debug/neurozoo}
[ -x "$nz" ] || { make -s setup; cargo build -q -p neurozoo -p neurozoo-torch; }
work=target/bench/slowvae
mkdir -p "$work"
$nz data simulate sprites --force --out "$work/train.h5" --pairs "$pairs" --seed 1 2>/dev/null
$nz data simulate sprites --force --out "$work/test.h5" --pairs 5000 --seed 2 2>/dev/null
printf "%-8s %4s %8s %8s %8s %9s %9s\n" preset seed MCC MIG "R²" BetaVAE FactorVAE
for seed in $(seq 0 $((seeds - 1))); do
  for preset in slowvae betavae; do
    run=$work/$preset-$seed
    rm -rf "$run"
    printf 'preset = "%s"\n[train]\nlr = %s\n' "$preset" "$lr" > "$work/$preset.toml"
    $nz fit "$work/$preset.toml" --data "$work/train.h5" --out "$run" --seed "$seed" --iterations "$iterations" --threads 2 2>"$run.log"
    $nz eval "$run" --data "$work/test.h5" --json --intervention-points "$points" > "$run.json"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); i=d['intervention']; print('%-8s %4s %8.3f %8.3f %8.3f %9.3f %9.3f' % (sys.argv[2], sys.argv[3], d['mcc_spearman'], d['mig'], d['r2'], i['beta_vae'], i['factor_vae']))" "$run.json" "$preset" "$seed"
  done
done
