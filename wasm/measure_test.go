package wasm

import (
	"strings"
	"testing"

	"github.com/distgate/distgate/wasm/wasmtest"
)

// measureN is the number of lookups TestMeasureDecisions times.
var measureN = 20000

// benchRequest is the request the bench-policy command times.
var benchRequest = wasmtest.LookupRequest()

const benchMapConfig = `{"routes": [
  {"match": "cache*@*", "site": "us", "transport": "tls"},
  {"match": "db*@*.example", "site": "eu-west", "transport": "quic", "tick_ms": 15000}
]}`

// TestMeasureDecisions runs MeasureDecisions on the WAT and a Go sample.
// Tests never assert on speed: the figures are logged (go test -v).
func TestMeasureDecisions(t *testing.T) {
	e := newEngine(t, Config{})
	install(t, e, "wat", localOnly(t), "")
	install(t, e, "go", staticMap(t), benchMapConfig)
	for _, name := range []string{"wat", "go"} {
		p50, p99, err := MeasureDecisions(ctx, e, name, benchRequest, measureN)
		if err != nil {
			t.Fatal(err)
		}
		if p50 <= 0 || p99 < p50 {
			t.Errorf("%s: p50 %v, p99 %v", name, p50, p99)
		}
		t.Logf("%s: p50 %v p99 %v", name, p50, p99)
	}
	if _, _, err := MeasureDecisions(ctx, e, "missing", benchRequest, 10); err == nil {
		t.Error("measuring a missing policy succeeded")
	}
}

func benchmarkLookup(b *testing.B, name string, module []byte, config string) {
	e := newEngine(b, Config{})
	install(b, e, name, module, config)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Lookup(ctx, name, benchRequest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupWAT(b *testing.B) { benchmarkLookup(b, "wat", localOnly(b), "") }

// BenchmarkLookupGo repeats one request: after the first, the route the
// sample allows to be reused answers it.
func BenchmarkLookupGo(b *testing.B) { benchmarkLookup(b, "go", staticMap(b), benchMapConfig) }

// BenchmarkLookupGoEveryCall asks the guest every time.
func BenchmarkLookupGoEveryCall(b *testing.B) {
	benchmarkLookup(b, "go", staticMap(b), strings.Replace(benchMapConfig, "{", `{"cache_ms": 0, `, 1))
}

func BenchmarkLookupWATParallel(b *testing.B) {
	e := newEngine(b, Config{})
	install(b, e, "wat", localOnly(b), "")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Lookup(ctx, "wat", benchRequest); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
