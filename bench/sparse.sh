#!/usr/bin/env bash
# Dictionary learning benchmark: neurozoo's sparse-coding plugin (FISTA codes, least-squares
# atoms, libtorch) against scikit-learn's DictionaryLearning (its defaults: LARS codes, SVD
# initialisation) on the same simulated sparse data, same lambda, same number of epochs, one
# initialisation each, whole processes run in turn under /usr/bin/time (bench/timing.sh: medians,
# ratios); bench/sparse_score.py then scores the last run of each against the ground truth.
#   bench/sparse.sh [SAMPLES] [DIMS] [ATOMS] [K] [EPOCHS] [RUNS] [LAMBDA]
#   defaults: 10000 samples, 64 dims, 256 atoms, K = 5, 30 epochs, 3 runs, lambda 0.1
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-10000}; dims=${2:-64}; atoms=${3:-256}; k=${4:-5}; epochs=${5:-30}; rounds=${6:-3}; lambda=${7:-0.1}
source bench/timing.sh
make -s setup
if [ ! -x .venv-bench/bin/python ]; then python3 -m venv .venv-bench; fi
.venv-bench/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
cargo build -q --release -p neurozoo --bin neurozoo -p neurozoo-plugin-sparse-coding
nz=$PWD/target/release/neurozoo
work=$PWD/target/bench/sparse
mkdir -p "$work"
data=$work/sparse_${samples}x${dims}_${atoms}_k${k}.h5
[ -f "$data" ] || $nz data simulate sparse --out "$data" --n-samples "$samples" --n-dims "$dims" --n-sources "$atoms" --k-active "$k"
ours="$nz analyze sparse-coding --repr $data --out $work/neurozoo --param restarts=1 --param epochs=$epochs --param lambda=$lambda --param device=cpu"
theirs=".venv-bench/bin/python bench/sparse_sklearn.py $data $work/sklearn.npz $lambda $epochs"
echo "neurozoo analyze sparse-coding against scikit-learn DictionaryLearning; $samples samples, $dims dims, $atoms atoms, K = $k, lambda $lambda, $epochs epochs"
{
    measure neurozoo sh -c "rm -rf $work/neurozoo && exec $ours"
    measure scikit-learn $theirs
} > "$work/times.txt"
medians "$work/times.txt"
.venv-bench/bin/python bench/sparse_score.py "$data" "$work/neurozoo" "$work/sklearn.npz"
