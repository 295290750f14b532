# outflow: make demo runs it on the built-in example, make test runs every
# check CI runs. Both set up what they need on a fresh machine (Go modules;
# .ci/run installs the Debian packages the tests use).

GO        ?= go
BIN       ?= ./outflow
FUZZTIME  ?= 3s
BENCH_PACKETS ?= 2000000
BENCH_FLOWS   ?= 50000
BENCH_FILE    ?= testdata/bench/bench.pcap
# The race detector needs cgo and a C compiler; without one, tests run plain.
RACE      := $(shell command -v gcc >/dev/null 2>&1 && echo -race)
PKGS      := ./... ./testdata/gen/... ./testdata/benchcmp/...

.PHONY: all build demo test vet fmt-check unit fuzz-brief fuzz cross bench bench-go bench-file e2e clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/outflow

demo: build
	@echo "== outflow read --flows testdata/demo.pcap (flow records and alerts, one ECS document per line)"
	$(BIN) read --flows testdata/demo.pcap

test: fmt-check vet unit cross fuzz-brief
	@echo "make test: all checks passed"

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test $(RACE) -count=1 $(PKGS)

# Cross-compile the default pure-Go build for every supported platform.
cross:
	@for os in linux darwin windows; do for arch in amd64 arm64; do \
		echo "cross-compile $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./cmd/outflow || exit 1; \
	done; done

# Every fuzz target in the tree, briefly (FUZZTIME each). New targets are
# found automatically. A failure is retried once: the fuzzing engine can
# fail on a loaded machine, while an input that crashes is written to the
# package's testdata/fuzz and fails the retry as well.
fuzz-brief:
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read f; do \
		dir=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
			echo "fuzz $$dir $$t ($(FUZZTIME))"; \
			out=$$($(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$dir 2>&1) || { \
				echo "$$out"; echo "retrying $$t once: a crasher found above is saved in testdata/fuzz and fails again"; \
				$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$dir || exit 1; }; \
		done; \
	done

fuzz:
	$(MAKE) fuzz-brief FUZZTIME=60s

$(BENCH_FILE):
	@mkdir -p $(dir $(BENCH_FILE))
	$(GO) run ./testdata/gen -scenario bench -packets $(BENCH_PACKETS) -flows $(BENCH_FLOWS) -o $(BENCH_FILE)

bench-file: $(BENCH_FILE)

bench: build bench-file bench-go
	$(GO) run ./testdata/benchcmp -bin $(BIN) -file $(BENCH_FILE)

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem ./cmd/outflow ./flows ./flows/decode ./flows/ecs ./capture

clean:
	rm -rf $(BIN) testdata/bench

# The container sensor against a real Docker engine (root, docker.io,
# busybox-static, vsftpd). .ci/run starts dockerd and runs this.
e2e:
	OUTFLOW_E2E=1 OUTFLOW_E2E_REQUIRE=$${OUTFLOW_E2E_REQUIRE:-0} $(GO) test -count=1 -run '^TestE2E(Docker|IdleContainers|Posture|Respond)$$' -v -timeout 10m ./cmd/outflow
