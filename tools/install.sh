#!/usr/bin/env bash
# Install neurozoo built in this checkout into PREFIX (default ~/.local):
#   PREFIX/bin/neurozoo, PREFIX/bin/neurozoo-torch
#   PREFIX/lib/neurozoo/plugins/   the built-in analysis plugins
#   PREFIX/lib/neurozoo/libtorch   a link to the lib/ directory of the libtorch they were built
#                                  against (LIBTORCH_LIB=DIR for another torch 2.11.0's lib/)
#   PREFIX/share/…                 bash, zsh and fish completions
# The binaries and plugins find libtorch through that link ($ORIGIN-relative RUNPATH), so the
# installed copy does not depend on where the checkout is: when it moves, re-point the link.
# Usage: tools/install.sh [PREFIX] [BUILD_DIR]   (BUILD_DIR: target/release, as `make install` builds)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$HOME/.local}
build=${2:-$root/target/release}
libtorch=${LIBTORCH_LIB:-$root/.venv/libtorch/lib}

for exe in neurozoo neurozoo-torch; do
    [ -x "$build/$exe" ] || { echo "install: $build/$exe is missing: build first (make install does)" >&2; exit 1; }
done
[ -e "$libtorch/libtorch_cpu.so" ] || { echo "install: no libtorch in $libtorch (run make setup, or set LIBTORCH_LIB)" >&2; exit 1; }

mkdir -p "$prefix/bin" "$prefix/lib/neurozoo/plugins"
install -m 755 "$build/neurozoo" "$build/neurozoo-torch" "$prefix/bin/"
# The built-in plugins; the testkit plugin exists for the tests.
for plugin in summary sparse_coding superposition interpretability; do
    install -m 755 "$build/libneurozoo_plugin_$plugin.so" "$prefix/lib/neurozoo/plugins/"
done
ln -sfn "$(readlink -f "$libtorch")" "$prefix/lib/neurozoo/libtorch"

share=$prefix/share
mkdir -p "$share/bash-completion/completions" "$share/zsh/site-functions" "$share/fish/vendor_completions.d"
"$prefix/bin/neurozoo" completions bash > "$share/bash-completion/completions/neurozoo"
"$prefix/bin/neurozoo" completions zsh > "$share/zsh/site-functions/_neurozoo"
"$prefix/bin/neurozoo" completions fish > "$share/fish/vendor_completions.d/neurozoo.fish"

echo "installed neurozoo into $prefix (libtorch: $prefix/lib/neurozoo/libtorch -> $(readlink "$prefix/lib/neurozoo/libtorch"))"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "add $prefix/bin to PATH to run it as \`neurozoo\`" ;; esac
