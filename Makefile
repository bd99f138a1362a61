# Two entry points (see README): `make demo` and `make test`.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
PYOCI := target/release/pyoci
# The slowest tests are printed at the end of each run: CI has a 60-minute budget to keep.
PYTEST := python3 -m pytest -q --durations=15

.PHONY: demo test deps build cargo-test e2e e2e-bazel7 e2e-bazel8-flags test-remote lint bench

deps:
	bash tools/install-deps.sh

build: deps
	$(CARGO) build --release --locked -p pyoci

# Builds the hello example with Bazel, loads it with `bazel run`, runs it with `docker run`.
# Installs only what that needs (not the test suites' Bazel 7 root and witnesses).
demo:
	bash tools/install-deps.sh --demo
	$(CARGO) build --release --locked -p pyoci
	bash tools/demo.sh

cargo-test: build
	$(CARGO) test --release --locked --workspace

# The end-to-end suite on Bazel 4.2.3 (WORKSPACE mode).
e2e: build
	$(PYTEST) tests/e2e

# The same suite on Bazel 7.7.1 with bzlmod (tools/bazel7: Debian sid's Bazel in a chroot).
e2e-bazel7: build
	PYOCI_BAZEL=7 $(PYTEST) tests/e2e

# The examples on Bazel 7.7.1 with the defaults Bazel 8.0 flipped that 7.7.1 has flags for
# (8.0.0's release notes: empty globs, `+` in repository names, no implicit watch of labels,
# no legacy external runfiles, autoloading; WORKSPACE off is already part of the bzlmod run;
# ctx.resolve_tools, also disallowed in 8.0, has no flag in 7.7.1 and our rules never call it)
# and native repository rules off, the flip announced for Bazel 9.
BAZEL8_FLAGS := --incompatible_disallow_empty_glob --incompatible_use_plus_in_repo_names \
	--incompatible_autoload_externally= --nolegacy_external_runfiles \
	--incompatible_no_implicit_watch_label --incompatible_disable_native_repo_rules
e2e-bazel8-flags: build
	PYOCI_BAZEL=7 PYOCI_BAZEL_FLAGS="$(BAZEL8_FLAGS)" $(PYTEST) tests/e2e/test_examples.py tests/e2e/test_service.py

# The remote-execution suite alone (BuildGrid + buildbox workers) on both Bazels; `e2e` and
# `e2e-bazel7` run it too.
test-remote: build
	$(PYTEST) tests/e2e/test_remote_execution.py
	PYOCI_BAZEL=7 $(PYTEST) tests/e2e/test_remote_execution.py

lint: build
	$(PYOCI) lint examples rules
	python3 tools/rule_docs.py --check

test: cargo-test lint e2e e2e-bazel7 e2e-bazel8-flags

bench: build
	bash bench/layer_bench.sh
	bash bench/lint_bench.sh
