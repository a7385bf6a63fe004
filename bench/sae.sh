#!/usr/bin/env bash
# Sparse autoencoders: neurozoo's sparse-coding plugin against SAELens 6.18's training SAEs
# (bench/sae_saelens.py drives them with the same Adam loop, batch, learning rate and dead-latent
# window) on the same simulated sparse activations, same threads. Both time the training loop
# alone (neurozoo: its `training` table's seconds; SAELens: per epoch in the script), median
# over epochs; the trained SAEs' L0 and FVU on all rows are printed side by side. neurozoo keeps
# freed memory in its heap (neurozoo_util::memory::keep_freed_memory); SAELens runs twice, with
# glibc's defaults as its users run it and with the same allocator setting (GLIBC_TUNABLES), and
# the ratio is taken against the faster of the two.
#   bench/sae.sh [SAMPLES] [DIMS] [LATENTS] [K] [EPOCHS] [KINDS]
#   defaults: 200000 samples × 512 dims, 2048 latents, K = 32, 2 epochs,
#   KINDS "topk batchtopk matryoshka jumprelu"; batch 4096, lr 3e-4 (SAELens' usual settings).
# SAELens pins its own PyTorch, so it lives in .venv-sae (its torch version is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-200000}; dims=${2:-512}; latents=${3:-2048}; k=${4:-32}; epochs=${5:-2}
kinds=${6:-topk batchtopk matryoshka jumprelu}
batch=4096; lr=0.0003; threads=$(nproc); l0_coefficient=0.01
make -s setup
if [ ! -x .venv-sae/bin/python ]; then python3 -m venv .venv-sae; fi
.venv-sae/bin/pip install -q --disable-pip-version-check sae-lens==6.18.0 h5py==3.16.0
# sae-lens 6.18's own dependencies disagree (transformer-lens wants numpy < 2, pyarrow >= 2);
# it imports and runs with these.
.venv-sae/bin/pip install -q --disable-pip-version-check numpy==2.4.6 pandas==2.3.3 2>/dev/null
# PROFILE=dev uses the (optimised) test build instead of a release build.
if [ "${PROFILE:-release}" = dev ]; then cargo build -q --workspace; nz=$PWD/target/debug/neurozoo
else cargo build -q --release --workspace; nz=$PWD/target/release/neurozoo; fi
work=$PWD/target/bench/sae
mkdir -p "$work"
data=$work/sparse_${samples}x${dims}_k${k}.h5
[ -f "$data" ] || $nz data simulate sparse --out "$data" --n-samples "$samples" --n-dims "$dims" --n-sources "$latents" --k-active "$k"
echo "SAE training, $samples × $dims, $latents latents, k = $k (JumpReLU: L0 coefficient $l0_coefficient), batch $batch, lr $lr, $epochs epochs, $threads threads"
same_allocator=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_max=0
printf '%-12s %14s %14s %16s %8s %10s %10s %10s %10s\n' kind "neurozoo s/ep" "SAELens s/ep" "same alloc s/ep" ratio "L0 nz" "L0 SAELens" "FVU nz" "FVU SAELens"
for kind in $kinds; do
    sparsity=$k; [ "$kind" = jumprelu ] && sparsity=$l0_coefficient
    param=k; [ "$kind" = jumprelu ] && param=l0_coefficient
    rm -rf "$work/nz-$kind"
    $nz analyze sparse-coding --repr "$data" --out "$work/nz-$kind" --param "method=sae-$kind" --param "n_atoms=$latents" \
        --param "$param=$sparsity" --param "epochs=$epochs" --param "batch_size=$batch" --param "lr=$lr" --param device=cpu \
        --param iterations=1 > "$work/nz-$kind.log" 2>&1
    theirs=$(.venv-sae/bin/python bench/sae_saelens.py "$data" "$kind" "$latents" "$sparsity" "$epochs" "$batch" "$lr" "$threads")
    tuned=$(GLIBC_TUNABLES=$same_allocator .venv-sae/bin/python bench/sae_saelens.py "$data" "$kind" "$latents" "$sparsity" "$epochs" "$batch" "$lr" "$threads")
    python3 - "$work/nz-$kind" "$theirs" "$tuned" "$kind" <<'PY'
import csv, json, statistics, sys
out, theirs, tuned, kind = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
rows = list(csv.DictReader(open(f"{out}/training.csv")))
seconds = [float(r["seconds"]) for r in rows]
per_epoch = statistics.median(b - a for a, b in zip([0.0] + seconds, seconds))
score = next(csv.DictReader(open(f"{out}/scores.csv")))
fastest = min(theirs['seconds_per_epoch'], tuned['seconds_per_epoch'])
print(f"{kind:12} {per_epoch:14.2f} {theirs['seconds_per_epoch']:14.2f} {tuned['seconds_per_epoch']:16.2f} {per_epoch / fastest:8.3f} "
      f"{float(score['l0']):10.2f} {theirs['l0']:10.2f} {float(score['fvu']):10.4f} {theirs['fvu']:10.4f}")
PY
done
.venv-sae/bin/python -c 'import torch, sae_lens; print(f"SAELens {sae_lens.__version__} on torch {torch.__version__}")'
echo "neurozoo: $($nz --version) on the project's libtorch"
