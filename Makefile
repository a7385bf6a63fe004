# The two front-door commands are `make demo` and `make test`; both run `setup` first.
CARGO ?= cargo
DEMO_OUT ?= demo-out
PREFIX ?= $(HOME)/.local

.PHONY: setup build demo test test-cuda install clean-venv

setup:
	@tools/setup.sh

build: setup
	$(CARGO) build --workspace

demo: setup
	$(CARGO) build --release --workspace
	target/release/neurozoo demo --out $(DEMO_OUT)

test: setup
	@tools/setup.sh --test-deps
	$(CARGO) nextest run --workspace
	# nextest does not run doctests: the crate examples and docs/plugins.md.
	$(CARGO) test --doc --workspace
	@$(MAKE) --no-print-directory test-cuda

# CUDA variants of the device tests are #[ignore]d so a CPU machine reports them as skipped;
# on a machine whose libtorch sees a GPU they are run here.
# The question is asked of the binary the test build made: `cargo run -p neurozoo` would resolve
# features for that one package and rebuild polars and more (minutes) to answer it.
test-cuda: setup
	@test -x target/debug/neurozoo || $(CARGO) build -q --workspace --all-targets
	@if target/debug/neurozoo doctor --json | grep -q '"cuda_available": *true'; then \
		$(CARGO) nextest run --workspace --run-ignored only -E 'test(/cuda/)'; \
	else \
		echo "test-cuda: no CUDA device visible to libtorch; CUDA tests skipped"; \
	fi

# Binaries, built-in plugins, completions and a link to this checkout's libtorch (LIBTORCH_LIB=DIR
# for another torch 2.11.0 lib/) into PREFIX; the installed copy finds libtorch through the link.
install: setup
	$(CARGO) build --release --workspace
	tools/install.sh $(PREFIX)

clean-venv:
	rm -rf .venv
