# switchboard — one entry point for users and CI.
#   make run     serve the embedded default config (ws://127.0.0.1:8080/ws)
#   make test    install what the tests need, then run every test
#   make build   the static binary the Dockerfile builds (bin/switchboard)

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/switchboard

.PHONY: run build test deps test-go test-node test-django test-browser test-static test-bench test-fuzz vet

run:
	$(GO) run ./cmd/switchboard

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/switchboard

test: deps vet test-static test-bench test-node test-django test-browser test-go test-fuzz

# Everything the tests need that a fresh machine lacks.
deps:
	$(GO) mod download
	@# The NATS server binary for the cluster's end-to-end test (test/node/cluster.test.js).
	@test -x "$$($(GO) env GOPATH)/bin/nats-server" || $(GO) install github.com/nats-io/nats-server/v2@v2.15.2
	cd test/node && npm ci --no-audit --no-fund --loglevel=error
	cd test/browser && npm ci --no-audit --no-fund --loglevel=error
	@# Debian packages: Chromium for the browser tests, Django for the example app,
	@# Python autobahn for the interop test.
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	/usr/bin/python3 -c 'import django' 2>/dev/null || missing="$$missing python3-django"; \
	/usr/bin/python3 -c 'import autobahn, cbor2' 2>/dev/null || missing="$$missing python3-autobahn python3-cbor2"; \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi
	@# The HTTP bridge's Python example needs requests (PyPI is out of reach: Debian's package).
	python3 -c 'import requests' 2>/dev/null || /usr/bin/python3 -c 'import requests' 2>/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq python3-requests; }
	@command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }

vet:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 ./...

# Each parser of outside input fuzzed for a bounded number of executions
# (about 8 s each here; their seeds, deep nesting included, also run in
# test-go). A count, not a duration: Go 1.26's fuzzing coordinator can fail
# a duration-bounded run at its deadline with "context deadline exceeded"
# and no failing input (golang/go#75804, fixed in Go 1.27).
# FUZZSCALE multiplies every count (e.g. FUZZSCALE=10 for a longer run).
FUZZSCALE ?= 1
FUZZ_TARGETS := transport:FuzzWebSocketReader:6000 transport:FuzzRawSocketFrames:12000 \
	transport:FuzzRawSocketHandshake:60 transport:FuzzDecodeJSON:50000 transport:FuzzDecodeMsgpack:70000 \
	transport:FuzzDecodeCBOR:50000 transport:FuzzJSONCodec:50000 transport:FuzzJSONValue:70000 \
	bridge:FuzzParse:50000 bridge:FuzzSignedRequest:150000 config:FuzzParse:35000 \
	cluster:FuzzSubjects:45000 cluster:FuzzDecode:40000 cluster:FuzzDecodeNodeMessage:20000
test-fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$$(( $${rest##*:} * $(FUZZSCALE) )); \
		echo "fuzz $$pkg $$fn ($${n} executions)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $${n}x ./$$pkg; \
	done

test-node:
	cd test/node && node --experimental-websocket --test

# The Django example's own tests (router down: saves still succeed).
test-django:
	cd examples/django-live && DJANGO_DB=$$(mktemp -d)/db.sqlite3 /usr/bin/python3 manage.py test board

# Headless Chromium: the Django live board end to end, and the browser quickstart.
test-browser:
	cd test/browser && node --test --test-concurrency=1

# A short run of the load tool against both routers: it must work end to end
# (figures from a run this small mean little; see docs/performance.md).
test-bench:
	$(GO) run ./cmd/switchboard-bench -n 10 -events 200 -calls 1000 -idle 50 -bridge-requests 200 -bridge-subscribers 10 -timeout 20s
	$(GO) run ./cmd/switchboard-bench -scenarios cluster,cluster-rpc -routers switchboard -rounds 1 -cluster-subscribers 20 -events 200 -calls 2000 -timeout 20s

test-static: build
	bash .ci/static-check.sh $(BIN)
