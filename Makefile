# FaaS@Edge. `make run` starts the whole stack locally; `make test` runs every test.
GO      ?= go
BIN     := bin/faasedge
PKGS    := ./...
# Test modules (WAT, Go wasip1) are built into testdata/build by the test setup.
export FAASEDGE_POUCHDB := $(CURDIR)/.tools/npm/node_modules/.bin/pouchdb-server

.PHONY: all deps build examples hello test fuzz bench soak run eval lint clean release

all: build

deps:
	@bash scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/faasedge

# Every fuzz target also gets a short run beyond its seed corpus.
# The evaluation's packages run without the race detector: their end-to-end
# runs compile megabytes of guest modules, which the detector's
# instrumentation of wazero's compiler slows five- to tenfold (an init past
# the action's 60 s limit on a loaded machine); the stack they drive is
# raced in its own packages' tests.
RACE_PKGS = $(shell $(GO) list $(PKGS) | grep -v /eval/)
test: deps
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 20m ./eval/...
	FUZZTIME=3s bash scripts/fuzz.sh

# Every fuzz target of the module for FUZZTIME (default 30s) each.
FUZZTIME ?= 30s
fuzz: deps
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 3 -timeout 60m $(PKGS)

# The soak benchmark: mixed load, hostile modules included, through the
# standalone for SOAKTIME, reporting RSS at start, after warm-up and at the end.
SOAKTIME ?= 1h
soak: deps
	$(GO) test -run '^$$' -bench '^BenchmarkSoak$$' -benchtime $(SOAKTIME) -timeout 0 -v ./standalone/

# Sample actions, built for wasip1 into $(EXAMPLES_OUT): hello (Go SDK,
# reactor), fetch-c (C, command) and fetch-rust (Rust, reactor), the last
# two calling the host's outbound HTTP. Debian's rustc, which ships the
# wasm32-wasi standard library (make deps installs it).
EXAMPLES_OUT ?= bin
RUSTC        ?= /usr/bin/rustc
RUSTFLAGS    := --edition 2021 --target wasm32-wasi -O -C strip=debuginfo

examples: hello
	clang --target=wasm32-wasi -O2 -Wall -Wextra -Werror -o $(EXAMPLES_OUT)/fetch-c.wasm examples/c/fetch.c
	$(RUSTC) $(RUSTFLAGS) --crate-type rlib -o $(EXAMPLES_OUT)/libfaasedge.rlib examples/rust/faasedge.rs
	$(RUSTC) $(RUSTFLAGS) --crate-type cdylib --extern faasedge=$(EXAMPLES_OUT)/libfaasedge.rlib \
		-o $(EXAMPLES_OUT)/fetch-rust.wasm examples/rust/fetch.rs

hello:
	@mkdir -p $(EXAMPLES_OUT)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(EXAMPLES_OUT)/hello.wasm ./examples/hello

run: build hello
	@bash scripts/run.sh

# The evaluation on a small deployment (root: network namespaces, tc,
# cgroups): the standalone and N `faasedge node` processes, every workload
# in both data placements; the run's directory (report.md, CSV, PNG, raw
# samples) goes under eval-out/. EVALFLAGS picks N, caps and loads.
EVALFLAGS ?= --nodes 5 --rate 50mbit --cpu 0.5
eval: deps build
	$(BIN) eval $(EVALFLAGS)

lint: deps
	$(GO) vet $(PKGS)
	.tools/bin/staticcheck $(PKGS)
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Static binaries for volunteer devices and systemd mode, with checksums:
# dist/faasedge-linux-{amd64,arm64,armv7}, dist/SHA256SUMS and the volunteer
# set-up script dist/install-node.sh (README: "Volunteer an edge node").
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
RELEASE := linux/amd64 linux/arm64 linux/arm/7
release:
	@rm -rf dist && mkdir -p dist
	@set -e; for p in $(RELEASE); do \
		os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$$(echo $$rest | sed -n 's,^arm/,,p'); \
		out=dist/faasedge-$$os-$$arch$${arm:+v$$arm}; echo "release: $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath \
			-ldflags "-s -w -X main.version=$(VERSION)" -o $$out ./cmd/faasedge; \
	done
	cp scripts/install-node.sh dist/
	cd dist && sha256sum faasedge-* > SHA256SUMS && cat SHA256SUMS

clean:
	rm -rf bin testdata/build dist
