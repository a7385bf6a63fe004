#!/usr/bin/env bash
# CUDA tests and GPU benchmarks on a machine with an NVIDIA GPU and PyTorch 2.11 but no Rust
# toolchain (the device tool's machines). Two halves:
#   bench/gpu.sh bundle       here: release binaries and the test binaries that hold CUDA tests,
#                             packed into target/gpu.tar.xz (carry it to the GPU machine)
#   bench/gpu.sh run [OUT]    there: unpack, run the CUDA tests, then the benchmarks; logs and a
#                             summary go to OUT (default target/gpu-out)
# On a machine with Rust and a GPU, `make test-cuda` and `bench/fit.sh 20 4 2 cuda` do the same.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=target/gpu.tar.xz

if [ "${1:-}" = bundle ]; then
    source bench/reference_env.sh   # neuralpredictors for the reference side of bench/fit.sh
    cargo build -q --release -p neurozoo -p neurozoo-torch --bins
    # The test binaries holding CUDA variants: zoo's device_tests!, sparse's recovery, e2e's fit.
    cargo test -q --release --no-run -p neurozoo-zoo -p neurozoo-sparse -p neurozoo --message-format=json 2>/dev/null \
        | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["profile"]["test"] and m["target"]["name"] in {"train", "device", "torchscript", "recovery", "e2e"}:
        print(m["target"]["name"], m["executable"])' > target/gpu-tests.txt
    rm -rf target/gpu-py && mkdir -p target/gpu-py
    cp -r "$(.venv-bench/bin/python -c 'import neuralpredictors, os; print(os.path.dirname(neuralpredictors.__file__))')" target/gpu-py/
    # Tests find fixtures and the binary by the absolute paths they were compiled with.
    pwd > target/gpu-root.txt
    tar -cJf "$bundle" target/release/neurozoo target/release/neurozoo-torch target/gpu-py target/gpu-root.txt \
        target/gpu-tests.txt $(cut -d' ' -f2 target/gpu-tests.txt | sed "s|^$PWD/||")
    ls -l "$bundle"
    exit 0
fi

[ "${1:-}" = run ] || { echo "usage: bench/gpu.sh bundle | run [OUT]" >&2; exit 2; }
out=$(realpath -m "${2:-target/gpu-out}")
mkdir -p "$out"
python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(".")' "$bundle"
# The e2e tests refuse a worker older than its sources; the copied sources here are newer.
touch target/release/neurozoo target/release/neurozoo-torch
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
built=$(cat target/gpu-root.txt)
if [ "$built" != "$PWD" ] && [ ! -e "$built" ]; then
    mkdir -p "$(dirname "$built")" && ln -s "$PWD" "$built"
fi
nz=$PWD/target/release/neurozoo
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' || true
    python3 -m pip list 2>/dev/null | grep -iE '^(numpy|h5py|scipy) ' || true
    nproc
} > "$out/machine.txt" 2>&1
"$nz" doctor --json > "$out/doctor.json" 2>&1 || true

# 1. CUDA tests: every #[ignore]d cuda:: variant, and e2e's --device cuda fit.
status=0
while read -r name exe; do
    exe=${exe#"$built"/}
    if [ "$name" = e2e ]; then filter=(device_cuda); else filter=(--ignored cuda); fi
    if timeout 300 "$exe" "${filter[@]}" --test-threads 4 > "$out/test-$name.log" 2>&1; then
        echo "test $name: $(grep -E '^test result' "$out/test-$name.log")"
    else
        echo "test $name: FAILED (see test-$name.log)"; status=1
    fi
done < target/gpu-tests.txt > "$out/tests.txt"
cat "$out/tests.txt"

# 2. klindt2017 fit, neurozoo against neuralpredictors on the same GPU.
NEUROZOO=$nz REFERENCE_PYTHON=python3 PYTHONPATH=$PWD/target/gpu-py timeout 600 bench/fit.sh "${EPOCHS:-20}" 4 "${ROUNDS:-2}" cuda \
    > "$out/fit.txt" 2>&1 || echo "fit benchmark failed" >> "$out/fit.txt"

# 3. The same fit on this machine's CPU cores, for the GPU/CPU ratio (neurozoo only).
work=target/bench/fit
printf 'preset = "klindt2017"\n[train]\nmax_epochs = 3\n' > "$work/cpu.toml"
rm -rf "$work/cpu" && "$nz" fit "$work/cpu.toml" --data "$work/v1_32x32" --out "$work/cpu" --threads "$(nproc)" --device cpu 2>/dev/null \
    && echo "neurozoo klindt2017 on $(nproc) CPU threads, s/epoch: $(tail -n +2 "$work/cpu/metrics.csv" | cut -d, -f"$(head -1 "$work/cpu/metrics.csv" | tr , '\n' | grep -nx seconds | cut -d: -f1)" | tr '\n' ' ')" >> "$out/fit.txt"
for run in "$work"/neurozoo-* "$work/cpu"; do cp "$run/metrics.csv" "$out/fit-$(basename "$run").csv" || true; done
cp "$work"/neuralpredictors-*.json "$out/" || true
cat "$out/fit.txt"
# The same with channels-last convolutions on the GPU (auto keeps CUDA runs NCHW until this says);
# after the copies above, since it reuses the run directories.
MEMORY_FORMAT=channels_last NEUROZOO=$nz REFERENCE_PYTHON=python3 PYTHONPATH=$PWD/target/gpu-py timeout 300 bench/fit.sh 10 4 1 cuda \
    > "$out/fit-channels-last.txt" 2>&1 || echo "channels-last fit benchmark failed" >> "$out/fit-channels-last.txt"
tail -3 "$out/fit-channels-last.txt"
# And in bf16 mixed precision, both sides (`[train] precision = "bf16"`, torch.autocast).
PRECISION=bf16 NEUROZOO=$nz REFERENCE_PYTHON=python3 PYTHONPATH=$PWD/target/gpu-py timeout 300 bench/fit.sh 10 4 1 cuda \
    > "$out/fit-bf16.txt" 2>&1 || echo "bf16 fit benchmark failed" >> "$out/fit-bf16.txt"
tail -3 "$out/fit-bf16.txt"

# 4. One sensorium2022 epoch on two recordings with behaviour and eye movements, GPU then CPU.
# 5. SlowVAE training steps per second against the reference's step in PyTorch, GPU (fp32, bf16)
#    then CPU.
work=target/bench/gpu
rm -rf "$work" && mkdir -p "$work"
"$nz" data simulate v1 --tree --out "$work/rec" --recordings 2 --n-units 1000 --height 36 --width 64 \
    --n-train 1500 --n-validation 250 --behavior-gain 0.5 --pupil-shift 1 2>/dev/null
{
    for device in cuda cpu; do
        if "$nz" fit sensorium2022 --data "$work/rec-1" --data "$work/rec-2" --out "$work/s22-$device" --max-epochs 1 \
            --threads "$(nproc)" --device "$device" 2>"$work/s22-$device.log"; then
            echo "sensorium2022, 2 recordings x 2000 trials 36x64, 1000 units, one epoch on $device: $(tail -1 "$work/s22-$device/metrics.csv" | awk -F, '{print $NF}') s"
        else
            echo "sensorium2022 on $device failed: $(tail -1 "$work/s22-$device.log")"
        fi
    done
    # GPU memory of the sensorium2022 fit, as its run.json records it.
    python3 -c 'import json, sys; i = json.load(open(sys.argv[1])); print("sensorium2022 on cuda, peak GPU bytes: allocated", i.get("peak_gpu_allocated_bytes"), "reserved", i.get("peak_gpu_reserved_bytes"), "RSS", i.get("peak_rss_bytes"))' "$work/s22-cuda/run.json"
    for precision in fp32 bf16; do
        PRECISION=$precision NEUROZOO=$nz REFERENCE_PYTHON=python3 timeout 240 bench/slowvae_speed.sh 3000 4 cuda 1 | tail -3
    done
    NEUROZOO=$nz REFERENCE_PYTHON=python3 timeout 240 bench/slowvae_speed.sh 200 "$(nproc)" cpu 1 | tail -3
} > "$out/more.txt" 2>&1 || true
cat "$out/more.txt"
exit $status
