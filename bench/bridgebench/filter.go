//go:build linux

package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/distgate/distgate/wasm/wasmtest"
)

// The filter paths (-filter, `make bench-filter`): the distgate_tls path,
// the receiver's gateway (site-b) filtering what the sender's side sends
// with, in turn, no filter policy (nothing is decoded), a policy that
// allows every message, and the no-remote-exec sample. The same two
// gateways' code in the same run: the ratios compare the filter alone.
const (
	pathFilterOff      = "filter_off"
	pathFilterAllowAll = "filter_allow_all"
	pathFilterNoExec   = "filter_no_remote_exec"
)

var filterPaths = []string{pathFilterOff, pathFilterAllowAll, pathFilterNoExec}

func init() {
	pathLabels[pathFilterOff] = "distgate_tls, no filter policy at site-b (the stream is not decoded)"
	pathLabels[pathFilterAllowAll] = "distgate_tls, site-b filters with a policy that allows every message"
	pathLabels[pathFilterNoExec] = "distgate_tls, site-b filters with samples/policies/no-remote-exec"
}

// allowAllWAT is a filter policy that allows every message: the decoding,
// the cache and one policy call per shape, and nothing of a policy's own
// logic.
//
//go:embed allow_all.wat
var allowAllWAT []byte

// noExecConfig lets the bench's receiver get its messages: they are
// messages to the registered name bench_rx, which no-remote-exec passes.
const noExecConfig = `{"allow": ["erlang:node/0"]}`

// filterPolicies builds the two filter policies into dir and returns
// their paths by filter path.
func filterPolicies(dir, repo string) (map[string]string, error) {
	wat := filepath.Join(dir, "allow_all.wat")
	if err := os.WriteFile(wat, allowAllWAT, 0o600); err != nil {
		return nil, err
	}
	out := map[string]string{pathFilterAllowAll: filepath.Join(dir, "allow_all.wasm"), pathFilterNoExec: filepath.Join(dir, "no-remote-exec.wasm")}
	if _, err := wasmtest.BuildWAT(wat, out[pathFilterAllowAll]); err != nil {
		return nil, fmt.Errorf("allow_all.wat: %w (make deps installs wabt)", err)
	}
	if _, err := wasmtest.BuildGo(filepath.Join(repo, "samples/policies/no-remote-exec"), out[pathFilterNoExec]); err != nil {
		return nil, fmt.Errorf("no-remote-exec: %w", err)
	}
	return out, nil
}

// pushFilter uploads a filter policy to a site as its policy "filter",
// retrying while its admin API is not up yet.
func (s *site) pushFilter(ctx context.Context, bin, module, config string) error {
	cf := filepath.Join(s.dir, "filter-config.json")
	if err := os.WriteFile(cf, []byte(config), 0o600); err != nil {
		return err
	}
	var out []byte
	var err error
	for range 50 {
		out, err = exec.CommandContext(ctx, bin, "policy", "push", "filter", module, "-config-file", cf, "-config", s.config).CombinedOutput()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("policy push %s: %v\n%s", module, err, out)
}

// filterGatewayConfig is site-b's configuration on every filter path: a
// Go policy's first call on a loaded machine may pause for a collection
// past the default 10 ms deadline, which would fail the connection's first
// verdicts closed (only the first of each shape: the others come from the
// cache).
const filterGatewayConfig = "policy: {call_timeout: 1s}\n"

// setupFilter starts a distgate_tls gateway pair with site-b's filter
// policy for path.
func (b *bench) setupFilter(name string) (*pathEnv, error) {
	a, s, err := gatewayPair(b.ctx, b.o.distgate, b.dir, "tls", b.o.gatewayEnv, b.txAt, b.rxAt, 0, filterGatewayConfig)
	if err != nil {
		return nil, err
	}
	mod := []string{"-epmd_module", "distgate_epmd"}
	env := &pathEnv{
		rx:      nodeSpec{name: "rx@" + s.host, args: mod, env: []string{"ERL_EPMD_PORT=" + strconv.Itoa(s.epmdPort)}},
		tx:      nodeSpec{name: "tx@" + a.host, args: mod, env: []string{"ERL_EPMD_PORT=" + strconv.Itoa(a.epmdPort)}},
		relays:  []*child{a.proc, s.proc},
		sites:   []*site{a, s},
		cleanup: func() { a.stop(); s.stop() },
	}
	if module := b.filters[name]; module != "" {
		config := "{}"
		if name == pathFilterNoExec {
			config = noExecConfig
		}
		if err := env.sites[1].pushFilter(b.ctx, b.o.distgate, module, config); err != nil {
			env.cleanup()
			return nil, err
		}
	}
	return env, nil
}

// filterSummary is the last line's figures.
type filterSummary struct {
	ratio64k, ratio1k, rttAdded float64
	noExec64k, noExec1k         float64
}

func summarizeFilter(rs []pathResult) filterSummary {
	by := map[string]pathResult{}
	for _, r := range rs {
		by[r.name] = r
	}
	ratio := func(path string, size int) float64 {
		off, p := by[pathFilterOff].tput[size].mbps(), by[path].tput[size].mbps()
		if off <= 0 || p <= 0 {
			return math.NaN()
		}
		return p / off
	}
	s := filterSummary{
		ratio64k: ratio(pathFilterAllowAll, sizes[1]), ratio1k: ratio(pathFilterAllowAll, sizes[0]),
		noExec64k: ratio(pathFilterNoExec, sizes[1]), noExec1k: ratio(pathFilterNoExec, sizes[0]), rttAdded: math.NaN(),
	}
	off, all := by[pathFilterOff].rtt, by[pathFilterAllowAll].rtt
	if off.n > 0 && all.n > 0 {
		s.rttAdded = float64(all.p50-off.p50) / float64(time.Microsecond)
	}
	return s
}

// siteBCost is site-b's CPU per delivered byte in the throughput phase of
// size: the cost of the filter itself, whatever else the machine does.
func siteBCost(r pathResult, size int) string {
	for _, c := range r.cpu {
		var n int
		if _, err := fmt.Sscanf(c.phase, "tput %d", &n); err == nil && n == size && len(c.procs) > 3 {
			return nsPerByte(c.procs[3], r.tput[size].mbps())
		}
	}
	return "-"
}

// printFilter prints the filter paths against filter_off, the targets,
// and the last line.
func printFilter(w io.Writer, rs []pathResult) {
	s := summarizeFilter(rs)
	by := map[string]pathResult{}
	for _, r := range rs {
		by[r.name] = r
	}
	off := by[pathFilterOff]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "filter at site-b\t1 KiB MB/s\tx off\t64 KiB MB/s\tx off\trtt p50 µs\t+µs\tsite-b ns/B 1 KiB\tsite-b ns/B 64 KiB\t")
	for _, p := range filterPaths {
		r, ok := by[p]
		if !ok {
			continue
		}
		k1, k64 := r.tput[sizes[0]].mbps(), r.tput[sizes[1]].mbps()
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.0f\t%.2f\t%d\t%+d\t%s\t%s\t\n", p, k1, k1/off.tput[sizes[0]].mbps(), k64, k64/off.tput[sizes[1]].mbps(),
			r.rtt.p50.Microseconds(), r.rtt.p50.Microseconds()-off.rtt.p50.Microseconds(), siteBCost(r, sizes[0]), siteBCost(r, sizes[1]))
	}
	tw.Flush()
	fmt.Fprintln(w, "site-b ns/B: the filtering gateway's CPU per byte delivered (of the round with the best 64 KiB throughput), which the\nother load of a shared machine disturbs less than the throughput")
	fmt.Fprintln(w)
	check := func(what string, got, want float64, atLeast bool) {
		ok := got >= want
		if !atLeast {
			ok = got <= want
		}
		verdict := "met"
		if math.IsNaN(got) {
			verdict = "not measured"
		} else if !ok {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "target %-40s %8.2f (%s %.2f): %s\n", what, got, map[bool]string{true: ">=", false: "<="}[atLeast], want, verdict)
	}
	check("allow-all / off, 64 KiB", s.ratio64k, 0.8, true)
	check("allow-all / off, 1 KiB", s.ratio1k, 0.7, true)
	check("allow-all round trip added, µs", s.rttAdded, 20, false)
	fmt.Fprintf(w, "no-remote-exec / off: 64 KiB %.2f, 1 KiB %.2f\n", s.noExec64k, s.noExec1k)
	fmt.Fprintf(w, "filter allow_all_ratio_64k=%.2f allow_all_ratio_1k=%.2f rtt_added_us=%.1f\n", s.ratio64k, s.ratio1k, s.rttAdded)
}
