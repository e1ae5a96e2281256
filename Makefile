# The two commands of the README: `make demo` and `make test`.
# Build output is cached outside the checkout so fresh clones (and CI) reuse it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/omring/target
export CARGO_TARGET_DIR
OM_NODE := $(CARGO_TARGET_DIR)/debug/om-node

.PHONY: deps build demo test bench bench-compare bench-smoke

deps:
	@./scripts/install-deps.sh

build: deps
	cargo build --workspace --bins

## Start a local 3-node ring and keep it running until Ctrl-C.
demo: build
	rm -rf .omring/local-ring
	$(OM_NODE) dev ring --nodes 3 --dir .omring/local-ring

## Everything CI checks.
test: deps
	cargo fmt --all -- --check
	cargo build --workspace --all-targets
	cargo test --workspace --no-fail-fast

## Key create+commit throughput and latency at 1, 16 and 64 clients.
bench: deps
	cargo bench --profile dev -p om-node --bench ring_bench

## omring vs etcd vs Apache Ozone OM side by side (peers installed from the registries and
## cached); writes bench/results/results.md and throughput.png. Extra flags: ARGS="--secs 5".
bench-compare: deps
	bench/scripts/run-all.sh $(ARGS)

## Seconds-long harness check (our ring, plus etcd if already cached); part of cargo test.
bench-smoke: deps
	cargo build -p om-node --bin om-node
	cargo test -p omring-bench --test smoke
