#!/usr/bin/env bash
# Idempotent setup: a local .venv with the pinned libtorch (PyPI torch 2.11.0) and CMake, the
# .venv/libtorch link that .cargo/config.toml points LIBTORCH at, and cargo-nextest.
# Skips every step whose result is already there; re-runs pip when tools/requirements.txt changes.
# With --test-deps (what `make test` passes) also Debian's Chromium, which renders the demo's
# report page in the tests (set CHROMIUM=/path/to/chromium to use another one), and slurm-wlm and
# munge, which the sweep test starts as a one-node cluster, and neuralpredictors 0.3.0 (with scipy
# and tqdm) in .venv, which the export test runs.
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

# Debian packages the tests need, installed when missing (root, or sudo without a password).
apt_install() {
    local why=$1
    shift
    if [ "$(id -u)" = 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "setup: no root to install $* ($why): those tests will fail" >&2
        return 0
    fi
    echo "setup: installing Debian's $* ($why)"
    if [ -z "${apt_updated:-}" ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ "${1:-}" = "--test-deps" ]; then
    if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
        apt_install "renders the demo report in the tests" chromium
    fi
    if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
        apt_install "a one-node SLURM for the sweep test" slurm-wlm munge
    fi
    # neuralpredictors 0.3.0, whose modules load an exported model.py in zoo/tests/np_export.rs:
    # without its declared dependencies (torch, numpy, pandas and h5py are the requirements'),
    # plus scipy and tqdm, which its layers import.
    if ! "$venv/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('neuralpredictors') is None)"; then
        echo "setup: installing neuralpredictors 0.3.0 into $venv (the export test builds its models)"
        "$venv/bin/pip" install --disable-pip-version-check -q --no-deps neuralpredictors==0.3.0
        "$venv/bin/pip" install --disable-pip-version-check -q scipy==1.16.3 tqdm==4.67.1
    fi
fi
