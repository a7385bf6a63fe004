#!/usr/bin/env bash
# compare benchmark: seconds of `neurozoo compare` as the stimuli grow, so the growth is visible.
# A: responses of 100 simulated neurons, B: 60 other neurons' responses to the same images
# (16x16), one representation each; the default 200 bootstrap resamples, 5 folds.
#   bench/compare.sh [RESAMPLES] [SIZES]   defaults: 200 "500 1000 2000 4000"
# The shape distances' 100 permutations run too (the default); a BASELINE from before they
# existed does not run them, so its time is of less work.
# BASELINE=path/to/an/older/neurozoo runs the same comparisons with it side by side (up to
# BASELINE_MAX_N stimuli, default 1000: the quadratic-and-worse baseline takes minutes beyond).
set -euo pipefail
cd "$(dirname "$0")/.."
resamples=${1:-200}; sizes=${2:-500 1000 2000 4000}
# NEUROZOO=path/to/neurozoo times that build instead of building a release one (a debug build
# to compare with a debug BASELINE, say); its neurozoo-torch must sit beside it.
if [ -z "${NEUROZOO:-}" ]; then
    cargo build -q --release -p neurozoo -p neurozoo-torch
fi
nz=$(realpath "${NEUROZOO:-target/release/neurozoo}")
work=$PWD/target/bench/compare
mkdir -p "$work"; cd "$work"
now() { date +%s.%N; }
echo "stimuli  resamples  neurozoo_s  growth${BASELINE:+  baseline_s  ratio}"
prev=""
for n in $sizes; do
    for side in a:100 b:60; do
        f=${side%%:*}; u=${side##*:}
        [ -f "$f$n.repr.h5" ] && continue
        $nz data simulate v1 --out "$f$n.h5" --n-units "$u" --n-train $((n - 10)) --n-validation 10 --n-test 0 --n-final-test 0 \
            --height 16 --width 16 --seed 1 2>/dev/null
        $nz extract --data "$f$n.h5" --out "$f$n.repr.h5" 2>/dev/null
    done
    rm -rf "out$n"; t0=$(now)
    $nz compare "a$n.repr.h5" "b$n.repr.h5" --out "out$n" --bootstrap "$resamples" --max-stimuli "$n" >/dev/null 2>&1
    t=$(echo "$(now) - $t0" | bc)
    growth=${prev:+$(echo "scale=2; $t / $prev" | bc)}
    line="$(printf '%7d  %9d  %10.2f  %6s' "$n" "$resamples" "$t" "${growth:--}")"
    if [ -n "${BASELINE:-}" ] && [ "$n" -le "${BASELINE_MAX_N:-1000}" ]; then
        rm -rf "base$n"; t0=$(now)
        "$BASELINE" compare "a$n.repr.h5" "b$n.repr.h5" --out "base$n" --bootstrap "$resamples" --max-stimuli "$n" >/dev/null 2>&1
        tb=$(echo "$(now) - $t0" | bc)
        line="$line  $(printf '%10.2f  %5.3f' "$tb" "$(echo "scale=4; $t / $tb" | bc)")"
        # Same scores: the speed-up must not change results beyond float noise.
        python3 - "out$n/compare.json" "base$n/compare.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["scores"] for p in sys.argv[1:])
# Over the baseline's metrics: a newer build may score more.
worst = max(abs(a[r][m][k] - b[r][m][k]) for r in b for m in b[r] for k in b[r][m] if b[r][m][k] is not None)
assert worst < 1e-9, f"scores differ from the baseline's by {worst}"
PY
    fi
    echo "$line"
    prev=$t
done
