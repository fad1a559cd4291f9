# dc2dc — the entry point for building, running and testing.
# `make help` lists the targets (from the ## comments).

SHELL        := bash
GO           ?= go
BIN          := $(CURDIR)/bin
GOLANGCI_VER := v2.15.0
PKGS         := ./...
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -X main.version=$(VERSION)
# The whole suite must stay well under 30 minutes on 2 cores (CI has 90).
TEST_TIMEOUT ?= 25m
RESULTS      ?= $(CURDIR)/results

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build dc2dc and arangosim into ./bin
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/dc2dc ./cmd/dc2dc
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/arangosim ./cmd/arangosim

.PHONY: run
run: build ## run two datacenters on 127.0.0.1 (arangosim + embedded Kafka), replicate A to B, live status
	$(BIN)/dc2dc dev $(RUN_ARGS)

.PHONY: test
test: build ## all tests with the race detector (unit, integration, end-to-end with real processes and kill -9)
	DC2DC_BIN=$(BIN)/dc2dc ARANGOSIM_BIN=$(BIN)/arangosim \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

.PHONY: test-short
test-short: ## unit tests only (no processes), with the race detector
	$(GO) test -race -short -count=1 $(PKGS)

.PHONY: test-e2e
test-e2e: build ## only the end-to-end suites that run the real programs as processes
	DC2DC_BIN=$(BIN)/dc2dc ARANGOSIM_BIN=$(BIN)/arangosim \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./tests/...

.PHONY: test-chaos
test-chaos: build ## the chaos suite: every fault at every phase (kill -9, failovers, outages, 503s), table in results/chaos.md
	@mkdir -p $(RESULTS)
	DC2DC_BIN=$(BIN)/dc2dc ARANGOSIM_BIN=$(BIN)/arangosim DC2DC_CHAOS=full DC2DC_RESULTS=$(RESULTS) \
		$(GO) test -race -count=1 -v -timeout 90m -run '^TestChaos$$' ./tests/chaos

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-20s} $$pkg || exit 1; \
		done; \
	done

# BENCH_PKGS: the side-by-side benchmarks (tests/bench doc.go lists their knobs).
BENCH_PKGS   ?= ./tests/bench

.PHONY: bench
bench: build ## benchmarks: pipeline vs Kafka ceiling, then replication through masters and workers; report in $(RESULTS)/bench.md and bench.json
	@mkdir -p $(RESULTS)
	set -o pipefail; DC2DC_BIN=$(BIN)/dc2dc ARANGOSIM_BIN=$(BIN)/arangosim DC2DC_RESULTS=$(RESULTS) \
		$(GO) test -run '^$$' -bench . -benchtime 1x -benchmem -timeout 60m $(BENCH_PKGS) | tee $(RESULTS)/bench-$$(date -u +%Y%m%dT%H%M%SZ).txt

$(BIN)/golangci-lint:
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VER)

.PHONY: lint
lint: $(BIN)/golangci-lint ## gofmt, go vet and golangci-lint (installed into ./bin)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(BIN)/golangci-lint run $(PKGS)

.PHONY: fmt
fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: tidy-check
tidy-check: ## fail when go.mod/go.sum are not tidy
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN)
