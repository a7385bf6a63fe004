# Sourced by the benchmarks that run neuralpredictors: .venv-bench with bench/requirements*.txt,
# importing torch from the project's .venv (one PyTorch, the pinned one).
make -s setup
if [ ! -x .venv-bench/bin/python ]; then python3 -m venv .venv-bench; fi
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$site" > "$(.venv-bench/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/neurozoo_torch.pth"
.venv-bench/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
.venv-bench/bin/pip install -q --disable-pip-version-check --no-deps -r bench/requirements-nodeps.txt
