#!/usr/bin/env bash
# Idempotent setup: a local .venv with the pinned libtorch (PyPI torch 2.11.0) and CMake, the
# .venv/libtorch link that .cargo/config.toml points LIBTORCH at, and cargo-nextest.
# Skips every step whose result is already there; re-runs pip when tools/requirements.txt changes.
# With --browser (what `make test` passes) also Debian's Chromium, which renders the demo's report
# page in the tests; set CHROMIUM=/path/to/chromium to use another one.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
req=tools/requirements.txt
stamp=$venv/.requirements.sha256
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv with $($python --version)"
    "$python" -m venv "$venv"
fi

want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing $req into $venv (PyTorch is about 5 GB; this takes a few minutes once)"
    "$venv/bin/pip" install --disable-pip-version-check -q -r "$req"
    echo "$want" > "$stamp"
fi

# A relative link, so the checkout can move; found through site-packages, not a guessed path.
torch_dir=$("$venv/bin/python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("torch")
print(os.path.relpath(os.path.dirname(spec.origin), ".venv"))
PY
)
if [ "$(readlink "$venv/libtorch" 2>/dev/null)" != "$torch_dir" ]; then
    ln -sfn "$torch_dir" "$venv/libtorch"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "setup: installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

if [ "${1:-}" = "--browser" ] && [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "setup: no chromium and no root to install it: the report rendering test will fail (install Debian's chromium or set CHROMIUM)" >&2
        exit 0
    fi
    echo "setup: installing Debian's chromium (renders the demo report in the tests)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
