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
