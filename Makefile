# Every Go module of the repository: the root and any nested go.mod.
MODULES := $(shell find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)
GO ?= go
FUZZTIME ?= 20s

.PHONY: test vet fmt-check bench fuzz

# test vets and runs every test of every module under the race detector.
test: fmt-check vet
	@set -e; for m in $(MODULES); do \
		echo "== go test -race $$m"; \
		(cd $$m && $(GO) test -race -count=1 ./...); \
	done

vet:
	@set -e; for m in $(MODULES); do \
		echo "== go vet $$m"; \
		(cd $$m && $(GO) vet ./...); \
	done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# bench runs every benchmark once, with allocations.
bench:
	@set -e; for m in $(MODULES); do \
		(cd $$m && $(GO) test -run '^$$' -bench . -benchmem ./...); \
	done

# fuzz runs each fuzz target of the root module for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# e2e builds Jaeger (collector/e2e/jaeger pins v1.75.0) and otelcol-caracal,
# starts both on 127.0.0.1, runs the quickstart through the collector and
# checks the trace through Jaeger's HTTP API; see collector/e2e/run.sh.
# E2E_KEEP=1 keeps Jaeger and the collector up afterwards until Ctrl-C.
.PHONY: e2e
e2e:
	@GO="$(GO)" bash collector/e2e/run.sh
