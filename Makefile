# Two entry points (see README): `make demo` and `make test`.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
PYOCI := target/release/pyoci

.PHONY: demo test deps build cargo-test e2e test-remote lint bench

deps:
	bash tools/install-deps.sh

build: deps
	$(CARGO) build --release --locked -p pyoci

# Builds the hello example with Bazel, loads it with `bazel run`, runs it with `docker run`.
demo: build
	bash tools/demo.sh

cargo-test: build
	$(CARGO) test --release --locked --workspace

e2e: build
	python3 -m pytest -q tests/e2e

# The remote-execution suite alone (BuildGrid + buildbox workers); `e2e` runs it too.
test-remote: build
	python3 -m pytest -q tests/e2e/test_remote_execution.py

lint: build
	$(PYOCI) lint examples rules
	python3 tools/rule_docs.py --check

test: cargo-test lint e2e

bench: build
	bash bench/layer_bench.sh
	bash bench/lint_bench.sh
