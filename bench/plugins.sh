#!/usr/bin/env bash
# Plugin host overhead: one call of a plugin that does nothing (testkit, mode=noop) against one
# call of the summary plugin on the same 10k x 1k representation (the input is lent, not copied:
# tests/e2e/plugins.rs checks the address).
#   bench/plugins.sh [N_STIMULI] [N_UNITS] [ROUNDS]      defaults: 10000 1000 7
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
cargo build -q --release --workspace
cargo run -q --release -p neurozoo-analysis --example plugin_overhead -- target/release "${1:-10000}" "${2:-1000}" "${3:-7}"

# Isolation: the same noop call as whole `neurozoo analyze` processes, with --in-process against
# the default child process (which opens the library and reads the representation file).
work=target/bench/plugins
mkdir -p "$work"
repr=$work/repr.h5
if [ ! -f "$repr" ]; then
    target/release/neurozoo data simulate sparse --out "$repr" --n-samples "${1:-10000}" --n-dims "${2:-1000}" \
        --n-sources 2000 --k-active 5 --force 2>/dev/null
fi
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
in_process=(); isolated=()
for r in $(seq "${3:-7}"); do
    for mode in in isolated; do
        rm -rf "$work/out"
        flag=$([ $mode = in ] && echo --in-process || true)
        t0=$(date +%s.%N)
        target/release/neurozoo analyze testkit --repr "$repr" --out "$work/out" --param mode=noop $flag 2>/dev/null
        t=$(echo "($(date +%s.%N) - $t0) * 1000" | bc)
        if [ $mode = in ]; then in_process+=("$t"); else isolated+=("$t"); fi
    done
done
mi=$(median "${in_process[@]}"); ms=$(median "${isolated[@]}")
echo "analyze testkit noop, whole process: --in-process $mi ms, in a child process (the default) $ms ms, isolation costs $(echo "$ms - $mi" | bc) ms a call"
