# distgate — see README.md.
GO      ?= go
BIN     := bin/distgate
# The whole suite stays well under CI's limit; this bounds a hung test.
TESTFLAGS ?= -timeout 20m

.PHONY: all build run deps test vet test-unit fuzz bench bench-epmd bench-policy bench-bridge bench-filter bench-wan test-wan-long bench-sites etcd clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/distgate

## run: the gateway on its embedded defaults (EPMD on 127.0.0.1:4369).
run: build
	./$(BIN) run

## deps: what the tests need (Erlang/OTP, wabt, stunnel4, ... from Debian; etcd's server,
## the version go.mod pins, built into bin/etcd: the site tests run a cluster of it).
deps: etcd
	./scripts/install-deps.sh

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

## test: installs what is missing, then vet and every test (unit, fuzz seeds, end to end).
test: deps vet
	$(GO) test $(TESTFLAGS) ./...

test-unit:
	$(GO) test -short ./...

## fuzz: a short run of every fuzz target (seed corpora run in `make test`).
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./epmd -run '^$$' -fuzz FuzzRequest -fuzztime $(FUZZTIME)
	$(GO) test ./epmd -run '^$$' -fuzz FuzzReply -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/handshake -run '^$$' -fuzz FuzzParseSendName -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/handshake -run '^$$' -fuzz FuzzTracker -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/handshake -run '^$$' -fuzz FuzzReframe -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/linkwire -run '^$$' -fuzz FuzzHeader -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/linkwire -run '^$$' -fuzz FuzzReply -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/linkwire -run '^$$' -fuzz FuzzPing -fuzztime $(FUZZTIME)
	$(GO) test ./abi -run '^$$' -fuzz FuzzParseLookupRequest -fuzztime $(FUZZTIME)
	$(GO) test ./abi -run '^$$' -fuzz FuzzParseAuthorizeRequest -fuzztime $(FUZZTIME)
	$(GO) test ./abi -run '^$$' -fuzz FuzzParseDecision -fuzztime $(FUZZTIME)
	$(GO) test ./abi -run '^$$' -fuzz FuzzParseRoute -fuzztime $(FUZZTIME)
	$(GO) test ./bench/wanem -run '^$$' -fuzz FuzzParseCommand -fuzztime $(FUZZTIME)
	$(GO) test ./gateway/distfilter -run '^$$' -fuzz FuzzIn -fuzztime $(FUZZTIME)
	$(GO) test ./abi -run '^$$' -fuzz FuzzParseFilterRequest -fuzztime $(FUZZTIME)
	$(GO) test ./abi -run '^$$' -fuzz FuzzParseVerdict -fuzztime $(FUZZTIME)

bench: bench-epmd bench-policy bench-bridge bench-filter bench-sites

## bench-epmd: stock epmd vs distgate, PORT_PLEASE2 lookups at 900 and 10,000 names.
bench-epmd: deps build
	$(GO) run ./bench/epmdbench -distgate $(BIN) -rounds 3

## bench-policy: one policy decision in process (WAT and Go samples), and EPMD lookups
## with the Go static-map policy active against the stock epmd and distgate without one.
bench-policy: deps build
	$(GO) run ./bench/policybench -distgate $(BIN) -rounds 3

## bench-bridge: Erlang distribution direct, over inet_tls_dist, stunnel, and distgate TLS/QUIC.
bench-bridge: deps build
	$(GO) run ./bench/bridgebench -distgate $(BIN)

## bench-filter: the message filter's cost: distgate TLS with no filter policy, an allow-all one
## and no-remote-exec at the receiver's gateway, same run.
bench-filter: deps build
	$(GO) run ./bench/bridgebench -distgate $(BIN) -filter -repo .

## test-wan-long: the WAN tests (root) in their long form: 50 MB each way, a 2-minute soak at 2% loss.
test-wan-long: build
	DISTGATE_WAN_LONG=1 $(GO) test ./e2e -run 'TestWAN' -count=1 -v -timeout 30m

## bench-wan: the paths of bench-bridge across the WAN emulator (bench/wanem; root): (a) 40 ms RTT,
## 400 Mbit/s; (b) 40 ms, 1% loss, 400 Mbit/s; (c) 150 ms, 0.1% loss, 200 Mbit/s.
bench-wan: deps build
	$(GO) run ./bench/bridgebench -distgate $(BIN) -wan a,b,c -duration 8s -rounds 1

## etcd: etcd's server, the version go.mod pins as a tool, for the site tests and bench-sites.
etcd:
	$(GO) build -o bin/etcd go.etcd.io/etcd/server/v3

## bench-sites: sites of many hosts on a 3-member etcd: edge failover, directory propagation,
## an agent's lookups against a standalone gateway, an edge with 10,000 registrations.
bench-sites: deps build etcd
	$(GO) run ./bench/sitesbench -distgate $(BIN) -etcd bin/etcd

clean:
	rm -rf bin
