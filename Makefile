# The two commands of the README: `make demo` and `make test`.
# Each checkout builds in its own ./target. sccache (scripts/sccache.sh, installed once into
# ~/.cache/omring) caches compiled dependencies, RocksDB's C++ included, across checkouts, so a
# fresh clone (and CI) does not compile them again. RUSTC_WRAPPER= turns it off.
CARGO_TARGET_DIR ?= $(CURDIR)/target
# Exported only when it comes from outside: sccache keys every Rust compile on the CARGO_*
# variables, so exporting this checkout's own path would make every other checkout miss.
ifneq ($(origin CARGO_TARGET_DIR),file)
export CARGO_TARGET_DIR
endif
# Evaluated once, when make reads this file (a plain ?= would run the script for every recipe).
ifeq ($(origin RUSTC_WRAPPER),undefined)
RUSTC_WRAPPER := $(shell scripts/sccache.sh)
endif
export RUSTC_WRAPPER
SCCACHE_DIR ?= $(HOME)/.cache/omring/sccache
export SCCACHE_DIR
# Our own sccache server: a server takes its cache settings from the client that started it, so
# one started elsewhere (another project, a shell without SCCACHE_DIR) would cache somewhere else.
SCCACHE_SERVER_PORT ?= 4231
export SCCACHE_SERVER_PORT
OM_NODE := $(CARGO_TARGET_DIR)/debug/om-node

.PHONY: test-one deps build e2e-build broken-node fuzz demo demo-down demo-status demo-local e2e e2e-nodes-smoke go-tools test chart-check bench bench-compare bench-smoke faults

deps:
	@./scripts/install-deps.sh

# One build for everything: building a subset of the workspace unifies dependency features
# differently (e.g. the C compiler crate behind RocksDB) and would compile RocksDB again.
build: deps broken-node
	cargo build --workspace --all-targets

## om-node with the deliberate bugs the fault suite must catch (om-node/src/breakage.rs), as
## $(CARGO_TARGET_DIR)/debug/om-node-broken. The workspace's binaries only: their dependency
## features resolve as in the plain build (a `-p om-node` selection would not, and would compile
## RocksDB again), and no test target is built twice. Cargo keeps both variants of om-node's
## library, so the plain build after it compiles only its own.
broken-node: deps
	cargo build --workspace --bins --features om-node/broken-for-tests
	cp -f $(OM_NODE) $(OM_NODE)-broken

## omring on a local Kubernetes cluster (the README's first command): builds, starts a control
## plane and 3 real Nodes (containerd + kubelet each, kube-proxy, CoreDNS, local volumes),
## imports the project's images, installs the operator with helm, applies
## manifests/examples/ring-3.yaml, waits until it is Available and prints how to use it.
## Everything keeps running; `make demo-down` stops it and restores the host (e2e/demo.sh).
## Needs root.
demo: deps
	e2e/demo.sh up

demo-down:
	e2e/demo.sh down

demo-status:
	e2e/demo.sh status

## A 3-node ring of plain processes on loopback, no Kubernetes; Ctrl-C stops it.
demo-local: build
	rm -rf .omring/local-ring
	$(OM_NODE) dev ring --nodes 3 --dir .omring/local-ring

## Everything CI checks. Needs root: the fault suite makes network namespaces, and the end-to-end
## tests, e2e/nodes/smoke.sh and e2e/demo-check.sh (make demo, every command it prints, make
## demo-down, the host compared) run real Kubernetes Nodes. The control-plane and node binaries
## are built once from the Go module proxy beside the Rust binaries, then cached. The end-to-end
## scenarios start once those and their own test are built, and the rest of the build, the other
## tests and the chart check run beside them (scripts/test-lanes.sh).
test: deps
	cargo fmt --all -- --check
	$(MAKE) --no-print-directory -j2 go-tools e2e-build
	scripts/test-lanes.sh
	e2e/nodes/smoke.sh
	e2e/demo-check.sh

## Every Go-built binary the tests use (control plane, real nodes, cert-manager's controllers,
## the chart, image and linearizability checkers), cached in ~/.cache/omring;
## `make test` builds them beside the Rust build (-j2), as they share nothing.
go-tools: deps
	e2e/controlplane/build.sh --node-bin >/dev/null
	e2e/cert-manager/build.sh >/dev/null
	scripts/tools.sh >/dev/null

## Install paths (charts/, manifests/, images/): generated files fresh (chart CRD and RBAC copies,
## values table, manifests/install.yaml), helm lint, kubeconform -strict of the rendered chart and
## the manifests, bad values rejected with a message, the operator accepts the chart's flags, and
## the OCI image archives built, validated with crane and run (--version) from their own files.
chart-check: deps
	e2e/controlplane/build.sh >/dev/null
	cargo build --workspace --all-targets
	scripts/chart-check.sh
	images/build-oci.sh

## One test executable of the workspace build, e.g. `make test-one T=double_buffer ARGS=crash`
## (T: a test file's name, or a crate's name for its unit tests). A filtered `cargo test -p X
## --test Y` would compile RocksDB again.
test-one: build
	"$$(scripts/exe-of.sh test $(T))" $(ARGS)

## The workspace's binaries and the end-to-end tests' executable, and nothing else (the other
## test targets build later, beside the scenarios). Features resolve as in `make build`; the
## selection is spelled once, in scripts/exe-of.sh.
e2e-build: deps
	scripts/exe-of.sh e2e >/dev/null

## Only the end-to-end scenarios (real Nodes, the project's images, chart, operator), e.g.
## `make e2e ARGS=scale` for the scenarios whose names hold "scale". Needs root.
e2e: deps go-tools
	set -e; set -- $$(scripts/exe-of.sh e2e); cd "$$2" && "$$3" $(ARGS)

## A real 3-node Kubernetes cluster on this machine (e2e/nodes/: containerd and a kubelet per
## Node, kube-proxy, CoreDNS, local-path storage) brought up, checked and torn down, and the host
## checked to be as before, with the chart's operator and a 3-member ring running from the project's
## images on it. Needs root. Node binaries built once from the Go module proxy.
e2e-nodes-smoke: build go-tools
	images/build-oci.sh
	e2e/nodes/smoke.sh --ring

## Key create+commit throughput and latency at 1, 16 and 64 clients, security off and on (TLS
## and ACLs; issue 17's target: at most 15% less throughput at 64 clients), in ABBA order over
## OMRING_BENCH_REPEATS fresh rings each (default 5, about 6 minutes); OMRING_BENCH_SECURITY=
## plain|secure runs one. Runs the bench executable of the workspace build (scripts/exe-of.sh):
## `cargo bench -p om-node` would resolve dependency features for om-node alone and compile
## RocksDB again.
bench: deps
	"$$(OMRING_PROFILE=perf scripts/exe-of.sh bench ring_bench)" --bench

## omring vs etcd vs Apache Ozone OM side by side (peers installed from the registries and
## cached); writes bench/results/results.md and throughput.png. Extra flags: ARGS="--secs 5".
bench-compare: deps
	bench/scripts/run-all.sh $(ARGS)

## How omring's costs grow with the namespace (issue 20): at each key count (preloaded through the
## client, one bucket and 1,000 buckets) key create and lookup throughput and p99, a 1,000-key
## list page, RSS and disk per node, a new follower's catch-up by snapshot and restart-to-ready;
## writes bench/results/scale/{scale.md,scale.json,scale.png}. Hours at the defaults; extra flags:
## ARGS="--keys 0,100000 --secs 20 --repeats 3" (OUT=/tmp/x to write elsewhere).
.PHONY: bench-scale
bench-scale: deps
	bench/scripts/run-scale.sh $(ARGS)

## Seconds-long harness check (our ring, plus etcd if already cached); part of cargo test.
bench-smoke: build
	"$$(scripts/exe-of.sh test smoke)"

## The fault campaign (faults/): RUNS randomized runs of SECS seconds over every fault kind, a
## summary in faults/results/campaign.md. `make faults SEED=S` replays one seed's schedule;
## FAULTS=k1,k2 narrows the kinds; NODES=3|5 fixes the ring size. Needs root. `make test` runs a
## short smoke of it (faults/tests/fault_runs.rs).
RUNS ?= 100
SECS ?= 60
FAULTS ?= all
faults: build
	OMRING_COMMIT="$$(git rev-parse --short HEAD)$$(git diff --quiet HEAD || echo '+changes')" \
	$(CARGO_TARGET_DIR)/debug/omring-faults $(if $(SEED),run --seed $(SEED),campaign --runs $(RUNS)) \
		--secs $(SECS) --faults $(FAULTS) $(if $(NODES),--nodes $(NODES))

## Every property test of a decoder of outside bytes (ozone-site.xml, client JSON, peer RPC
## bodies, Raft log entries, snapshot archives, OzoneManagerRing specs) at FUZZ_CASES cases
## each; `make test` runs proptest's default 256 (48 for snapshot archives, which open RocksDB).
FUZZ_CASES ?= 10000
fuzz: build
	for t in fuzz_client_decoders fuzz_node_decoders fuzz_model; do \
		PROPTEST_CASES=$(FUZZ_CASES) "$$(scripts/exe-of.sh test $$t)" fuzz_ || exit 1; \
	done
