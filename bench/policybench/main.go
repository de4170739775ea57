// Command policybench measures distgate's policies: one lookup decision
// end to end in process (encode, call, decode) for the WAT sample and for
// the Go static-map sample (asked every time, and answering a repeated
// request from the routes it allows to be reused); then EPMD lookups per
// second with the Go static-map policy active in a running gateway (and
// in another one with "cache_ms": 0, asked every time), against anchors
// measured in the same run: the stock epmd (PORT_PLEASE2), and a gateway
// without a policy, asked PORT_PLEASE2 (answered from its registry, as by
// `distgate epmd`) and the same LOOKUP_X as the policy (answered by the
// built-in router). Each daemon holds 900 live registrations; 8 clients drive
// them, a new connection per lookup as OTP does, for -rounds rounds in
// turns; each row shows its median round, with the daemon's own CPU time
// per lookup (from /proc), the fairer measure on cores the clients share.
//
//	go run ./bench/policybench -distgate bin/distgate [-rounds 3]
//
// Its last line:
//
//	policy-decision p50_ns=<WAT p50> p99_ns=<WAT p99> epmd_ratio=<R> policy_ratio=<P>
//
// R is the lookups/s of the gateway with the Go policy (LOOKUP_X) over
// the stock epmd's, P over the gateway's without a policy (PORT_PLEASE2).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/wasm"
	"github.com/distgate/distgate/wasm/wasmtest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	distgate  string
	stock     string
	names     int
	clients   int
	duration  time.Duration
	decisions int
	rounds    int
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.distgate, "distgate", "", "the distgate `binary` (required)")
	fs.StringVar(&o.stock, "stock", "epmd", "OTP's epmd `binary`")
	fs.IntVar(&o.names, "names", 900, "live registrations held on each daemon")
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each lookup phase")
	fs.IntVar(&o.decisions, "decisions", 200000, "decisions timed in process, per sample")
	fs.IntVar(&o.rounds, "rounds", 1, "times each lookup phase runs, in turns; a row shows the median")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.distgate == "" || o.rounds < 1 {
		fmt.Fprintln(stderr, "policybench: -distgate is required, -rounds must be positive")
		return 2
	}
	if err := bench(o, stdout); err != nil {
		fmt.Fprintf(stderr, "policybench: %v\n", err)
		return 1
	}
	return 0
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func bench(o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "policybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	root := repoRoot()
	goWasm, err := wasmtest.BuildGo(filepath.Join(root, "samples/policies/static-map"), filepath.Join(dir, "static-map.wasm"))
	if err != nil {
		return err
	}
	watWasm, err := wasmtest.BuildWAT(filepath.Join(root, "samples/policies/local-only/local-only.wat"), filepath.Join(dir, "local-only.wasm"))
	if err != nil {
		return err
	}
	goConfig, err := os.ReadFile(filepath.Join(root, "samples/policies/static-map/config.json"))
	if err != nil {
		return err
	}

	// 1. One decision, end to end in process.
	ctx := context.Background()
	// A deadline of a second: on a loaded machine a Go guest's collection
	// can pause a decision past the default 10 ms, which would end the
	// measurement (a gateway tries such a decision once more).
	eng, err := wasm.New(ctx, wasm.Config{CallTimeout: time.Second})
	if err != nil {
		return err
	}
	defer eng.Close(ctx)
	if _, err := eng.Install(ctx, "wat", watWasm, nil); err != nil {
		return err
	}
	// The Go sample allows its routes to be reused: "go" is asked every
	// time, "go-reused" answers the repeated request from the cache.
	uncached, err := withoutReuse(goConfig)
	if err != nil {
		return err
	}
	if _, err := eng.Install(ctx, "go", goWasm, uncached); err != nil {
		return err
	}
	if _, err := eng.Install(ctx, "go-reused", goWasm, goConfig); err != nil {
		return err
	}
	req := wasmtest.LookupRequest()
	fmt.Fprintf(out, "one lookup decision in process (encode, call, decode), %d each:\n", o.decisions)
	var watP50, watP99 time.Duration
	for _, p := range []struct{ name, policy string }{
		{"WAT local-only", "wat"}, {"Go static-map", "go"}, {"Go static-map, reused", "go-reused"},
	} {
		p50, p99, err := wasm.MeasureDecisions(ctx, eng, p.policy, req, o.decisions)
		if err != nil {
			return fmt.Errorf("%s decisions: %w", p.name, err)
		}
		if p.policy == "wat" {
			watP50, watP99 = p50, p99
		}
		fmt.Fprintf(out, "  %-22s p50 %8s  p99 %8s\n", p.name, p50, p99)
	}
	eng.Close(ctx)

	// 2. EPMD lookups/s, with the anchors measured in the same run: the
	// stock epmd, and distgate without a policy (two requests), then
	// distgate with the Go policy. Each daemon holds o.names
	// registrations; the phases take turns, o.rounds times.
	stock, err := startStock(o.stock)
	if err != nil {
		return fmt.Errorf("stock epmd: %w", err)
	}
	defer stock.stop()
	plain, err := startGateway(o.distgate, filepath.Join(dir, "plain"))
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer plain.stop()
	gw, err := startGateway(o.distgate, filepath.Join(dir, "policy"))
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer gw.stop()
	benchConfig := []byte(`{"routes": [{"match": "*@*.bench.example", "local": true}], "default": {"site": "hub", "transport": "tls"}}`)
	if err := gw.push("lookup", goWasm, benchConfig); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	// The same policy asked every time: what a policy whose routes may
	// not be reused costs.
	asked, err := startGateway(o.distgate, filepath.Join(dir, "asked"))
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer asked.stop()
	if benchConfig, err = withoutReuse(benchConfig); err != nil {
		return err
	}
	if err := asked.push("lookup", goWasm, benchConfig); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	for _, d := range []*daemonProc{stock, &plain.daemonProc, &gw.daemonProc, &asked.daemonProc} {
		regs, err := register(d.port, o.names)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		defer closeAll(regs)
	}
	portPlease := func(i int) []byte { return epmd.AppendPortPlease2(nil, fmt.Sprintf("n%04d", i%o.names)) }
	lookupX := func(i int) []byte {
		return epmd.LookupRequest{Node: fmt.Sprintf("n%04d@h.bench.example", i%o.names), Accept: []string{"inet_tcp"}}.Append(nil)
	}
	phases := []*phase{
		{name: "stock epmd, PORT_PLEASE2", d: stock, payload: portPlease, ok: benchutil.ClassicOK},
		{name: "distgate, no policy, PORT_PLEASE2", d: &plain.daemonProc, payload: portPlease, ok: benchutil.ClassicOK},
		{name: "distgate, no policy, LOOKUP_X", d: &plain.daemonProc, payload: lookupX, ok: benchutil.ExtOK},
		{name: "distgate + Go static-map, LOOKUP_X", d: &gw.daemonProc, payload: lookupX, ok: benchutil.ExtOK},
		{name: "the same, routes never reused", d: &asked.daemonProc, payload: lookupX, ok: benchutil.ExtOK},
	}
	load0 := benchutil.LoadAvg()
	for range o.rounds {
		for _, p := range phases {
			if err := p.run(o); err != nil {
				return err
			}
		}
	}
	calls, err := gw.policyCalls()
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\nEPMD lookups, %d names each, %d clients, %s, a new connection per lookup, median of %d rounds (load average %s, then %s):\n",
		o.names, o.clients, o.duration, o.rounds, load0, benchutil.LoadAvg())
	fmt.Fprintf(out, "  %-36s %10s %10s %10s %10s %8s\n", "daemon, request", "lookups/s", "cpu/lookup", "p50", "p99", "errors")
	for _, p := range phases {
		r := p.median()
		fmt.Fprintf(out, "  %-36s %10.0f %10s %10s %10s %8d\n", p.name, r.Rate(), r.CPUPerLookup().Round(100*time.Nanosecond), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors)
	}
	fmt.Fprintf(out, "  (the gateway's lookup policy answered %d calls)\n", calls)
	stockRate, aloneRate, xRate, policyRate := phases[0].median().Rate(), phases[1].median().Rate(), phases[2].median().Rate(), phases[3].median().Rate()
	ratio := func(a, b float64) float64 {
		if b <= 0 {
			return 0
		}
		return a / b
	}
	fmt.Fprintf(out, "the Go policy's LOOKUP_X against distgate without a policy: %.2fx its PORT_PLEASE2, %.2fx its LOOKUP_X (never reused: %.2fx, %.2fx)\n",
		ratio(policyRate, aloneRate), ratio(policyRate, xRate), ratio(phases[4].median().Rate(), aloneRate), ratio(phases[4].median().Rate(), xRate))
	fmt.Fprintf(out, "policy-decision p50_ns=%d p99_ns=%d epmd_ratio=%.2f policy_ratio=%.2f\n",
		watP50.Nanoseconds(), watP99.Nanoseconds(), ratio(policyRate, stockRate), ratio(policyRate, aloneRate))
	return nil
}

// withoutReuse returns a static-map configuration with "cache_ms": 0:
// every lookup asks the policy.
func withoutReuse(config []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(config, &m); err != nil {
		return nil, fmt.Errorf("static-map configuration: %w", err)
	}
	m["cache_ms"] = 0
	return json.Marshal(m)
}
