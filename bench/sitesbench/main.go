// Command sitesbench measures a site of many hosts on its etcd directory,
// all on loopback: three etcd members; site A (agents a1, a2, edge ea),
// site B (agent b1, edges eb1 and eb2 sharing one identity), and, in the
// same run, a standalone gateway as the anchor.
//
// Failover: x@a1 keeps a connection to y@b1 through an edge of B; that
// edge is killed (SIGKILL), -kills times: from the kill to nodedown, and
// to x's first successful rpc through the other edge (p50, p99).
// Propagation: a registration at agent a1 until it is visible in edge
// ea's directory cache (p50, p99). Lookups/s of LOOKUP_X at agent a1 for
// nodes of host a2 (from its directory cache) against the standalone
// gateway's for its own nodes (from its registry), 8 clients, a new
// connection per lookup, -rounds rounds in turns, with each daemon's CPU
// per lookup; the ratio is the median of the rounds' ratios. A site of
// -agents agents holding -registrations names: the memory of an edge that
// watched them arrive, and how soon a new edge's listing and watch hold
// them all.
//
//	go run ./bench/sitesbench -distgate bin/distgate -etcd bin/etcd
//
// Its last line:
//
//	sites failover_p50_ms=<F50> failover_p99_ms=<F99> propagate_p99_ms=<P99> lookup_ratio=<R> rss_mib_10k=<M>
//
// Targets: F99 <= liveness + 1000 ms, P99 <= 500 ms, R >= 0.9.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
	"github.com/distgate/distgate/epmd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	distgate      string
	etcd          string
	distgateEpmd  string
	liveness      time.Duration
	kills         int
	propagations  int
	names         int
	clients       int
	duration      time.Duration
	rounds        int
	agents        int
	registrations int
	profile       string
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sitesbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.distgate, "distgate", "", "the distgate `binary` (required)")
	fs.StringVar(&o.etcd, "etcd", "", "etcd's server `binary` (required)")
	fs.StringVar(&o.distgateEpmd, "distgate-epmd", filepath.Join(repoRoot(), "erlang/distgate_epmd/src"), "the nodes' -epmd_module (its source `directory`)")
	fs.DurationVar(&o.liveness, "liveness", 2*time.Second, "the routes' liveness between the sites")
	fs.IntVar(&o.kills, "kills", 10, "edges killed, one at a time")
	fs.IntVar(&o.propagations, "propagations", 50, "registrations timed from an agent to an edge")
	fs.IntVar(&o.names, "names", 900, "names looked up, registered at agent a2 and at the standalone gateway")
	fs.IntVar(&o.clients, "clients", 8, "concurrent lookup clients")
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "length of each lookup phase")
	fs.IntVar(&o.rounds, "rounds", 5, "times each lookup phase runs, in turns; a row shows the median")
	fs.IntVar(&o.agents, "agents", 20, "agents of the site with many registrations")
	fs.IntVar(&o.registrations, "registrations", 10000, "registrations spread over those agents")
	fs.StringVar(&o.profile, "profile", "", "write the CPU profile of each lookup phase's gateway (its first round) into this `directory`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.distgate == "" || o.etcd == "" || o.kills < 1 || o.propagations < 1 || o.rounds < 1 || o.agents < 1 || o.names < 1 {
		fmt.Fprintln(stderr, "sitesbench: -distgate and -etcd are required; counts must be positive")
		return 2
	}
	if err := benchmark(o, stdout); err != nil {
		fmt.Fprintf(stderr, "sitesbench: %v\n", err)
		return 1
	}
	return 0
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// bench is one run: its directory, ports, etcd and children.
type bench struct {
	o    options
	dir  string
	ebin string
	etcd *etcdCluster
	log  io.Writer // progress, before the report

	mu       sync.Mutex // guards children
	children []*child
}

// topology is the gateways of sites A and B and the standalone anchor.
type topology struct {
	a1, a2, ea, b1, eb1, eb2, alone *gateway
}

func benchmark(o options, out io.Writer) error {
	for _, tool := range []string{"erl", "erlc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed (make deps): %w", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "sitesbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{o: o, dir: dir, ebin: filepath.Join(dir, "ebin"), log: out}
	defer b.stopAll()
	if err := os.MkdirAll(b.ebin, 0o755); err != nil {
		return err
	}
	if err := compileErlang(b.ebin, o.distgateEpmd); err != nil {
		return err
	}
	if b.etcd, err = b.startEtcd(); err != nil {
		return err
	}
	defer b.etcd.stop()
	ctx := context.Background()
	load0 := benchutil.LoadAvg()

	t, err := b.startSites()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "failover: x@a1 to y@b1 through an edge of site B, killed %d times (liveness %v):\n", o.kills, o.liveness)
	down, back, err := b.failover(ctx, t)
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	prop, err := b.propagation(ctx, t.a1, t.ea)
	if err != nil {
		return fmt.Errorf("propagation: %w", err)
	}
	phases, err := b.lookups(ctx, t)
	if err != nil {
		return fmt.Errorf("lookups: %w", err)
	}
	for _, g := range []*gateway{t.a1, t.a2, t.ea, t.b1, t.eb1, t.eb2, t.alone} {
		g.proc.Stop()
	}
	sc, err := b.scale(ctx)
	if err != nil {
		return fmt.Errorf("%d registrations: %w", o.registrations, err)
	}

	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
	fmt.Fprintf(out, "\nsites on one etcd cluster of 3 members, all on loopback (load average %s, then %s):\n", load0, benchutil.LoadAvg())
	fmt.Fprintf(out, "  %-52s %9s %9s  %s\n", "measure", "p50", "p99", "target")
	fmt.Fprintf(out, "  %-52s %9s %9s  %s\n", fmt.Sprintf("edge killed -> nodedown (%d kills)", len(down)), ms(pct(down, 50)), ms(pct(down, 99)), "<= liveness "+o.liveness.String())
	fmt.Fprintf(out, "  %-52s %9s %9s  %s\n", fmt.Sprintf("edge killed -> rpc through the other edge (%d kills)", len(back)), ms(pct(back, 50)), ms(pct(back, 99)), fmt.Sprintf("<= %d ms", (o.liveness+time.Second).Milliseconds()))
	fmt.Fprintf(out, "  %-52s %9s %9s  %s\n", fmt.Sprintf("registration at agent a1 -> in edge ea's cache (%d)", len(prop)), ms(pct(prop, 50)), ms(pct(prop, 99)), "<= 500 ms")
	fmt.Fprintf(out, "\nLOOKUP_X, %d names, %d clients, %s, a new connection per lookup, median of %d rounds:\n", o.names, o.clients, o.duration, o.rounds)
	fmt.Fprintf(out, "  %-52s %10s %10s %10s %10s %7s\n", "gateway, answered from", "lookups/s", "cpu/lookup", "p50", "p99", "errors")
	for _, p := range phases {
		r := p.median()
		fmt.Fprintf(out, "  %-52s %10.0f %10s %10s %10s %7d\n", p.name, r.Rate(), r.CPUPerLookup().Round(100*time.Nanosecond), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors)
	}
	// Each round's two phases ran one after the other, under the same
	// load from the rest of the machine: the median of their ratios.
	var ratios []float64
	for i, r := range phases[0].rounds {
		if r.Rate() > 0 {
			ratios = append(ratios, phases[1].rounds[i].Rate()/r.Rate())
		}
	}
	slices.Sort(ratios)
	ratio := 0.0
	if len(ratios) > 0 {
		ratio = ratios[len(ratios)/2]
	}
	fmt.Fprintf(out, "  agent (site cache) / standalone (registry), median of the rounds' ratios: %.2f (target >= 0.90)\n", ratio)
	fmt.Fprintf(out, "\n%d registrations from %d agents (each claimed in etcd by its ALIVE2):\n", o.registrations, o.agents)
	fmt.Fprintf(out, "  registered in %v (%.0f/s)\n", sc.registered.Round(time.Millisecond), float64(o.registrations)/sc.registered.Seconds())
	fmt.Fprintf(out, "  the edge that watched them: all in its cache %v after the last; RSS %.1f MiB, %.1f MiB before\n", sc.liveLag.Round(time.Millisecond), sc.rssLive, sc.rssBefore)
	fmt.Fprintf(out, "  a new edge: all in its cache %v after its start (listing, then watch); RSS %.1f MiB\n", sc.newCatchUp.Round(time.Millisecond), sc.rssNew)
	fmt.Fprintf(out, "sites failover_p50_ms=%d failover_p99_ms=%d propagate_p99_ms=%d lookup_ratio=%.2f rss_mib_10k=%.1f\n",
		pct(back, 50).Milliseconds(), pct(back, 99).Milliseconds(), pct(prop, 99).Milliseconds(), ratio, max(sc.rssLive, sc.rssNew))
	return nil
}

// pct is the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// track keeps a child to stop at the end.
func (b *bench) track(c *child) {
	b.mu.Lock()
	b.children = append(b.children, c)
	b.mu.Unlock()
}

func (b *bench) stopAll() {
	b.mu.Lock()
	cs := b.children
	b.mu.Unlock()
	for _, c := range cs {
		c.Kill()
	}
}

// startSites configures and starts sites A and B and the standalone
// gateway.
func (b *bench) startSites() (*topology, error) {
	t := &topology{}
	var err error
	for _, g := range []struct {
		p          **gateway
		name, role string
	}{
		{&t.ea, "ea", "edge"}, {&t.eb1, "eb1", "edge"}, {&t.eb2, "eb2", "edge"},
		{&t.a1, "a1", "agent"}, {&t.a2, "a2", "agent"}, {&t.b1, "b1", "agent"}, {&t.alone, "alone", "standalone"},
	} {
		if *g.p, err = b.newGateway(g.name, g.role); err != nil {
			return nil, err
		}
	}
	if err := b.shareIdentity(t.eb2, t.eb1); err != nil {
		return nil, err
	}
	idA, err := b.identity(t.ea)
	if err != nil {
		return nil, err
	}
	idB, err := b.identity(t.eb1)
	if err != nil {
		return nil, err
	}
	route := func(site string) string {
		return fmt.Sprintf("routes:\n  - {match: \"*@*.%s.example\", site: %s, liveness: %s}\n", site, site, b.o.liveness)
	}
	quic := func(gs ...*gateway) string {
		var l []string
		for _, g := range gs {
			l = append(l, fmt.Sprintf("\"127.0.0.1:%d\"", g.quic))
		}
		return "[" + strings.Join(l, ", ") + "]"
	}
	configs := []struct {
		g                *gateway
		site, role, host string
		body             string
	}{
		{t.ea, "site-a", "edge", "", fmt.Sprintf("peers:\n  - {site: site-b, quic: %s, identity: %s}\n", quic(t.eb1, t.eb2), idB) + route("site-b")},
		{t.eb1, "site-b", "edge", "", fmt.Sprintf("peers:\n  - {site: site-a, quic: %s, identity: %s}\n", quic(t.ea), idA) + route("site-a")},
		{t.eb2, "site-b", "edge", "", fmt.Sprintf("peers:\n  - {site: site-a, quic: %s, identity: %s}\n", quic(t.ea), idA) + route("site-a")},
		{t.a1, "site-a", "agent", "a1.site-a.example", route("site-b")},
		{t.a2, "site-a", "agent", "a2.site-a.example", route("site-b")},
		{t.b1, "site-b", "agent", "b1.site-b.example", route("site-a")},
		{t.alone, "bench", "standalone", "h.bench.example", "links: {off: true}\n"},
	}
	for _, c := range configs {
		if err := b.write(c.g, c.site, c.role, c.host, c.body); err != nil {
			return nil, err
		}
	}
	// The edges first: the agents find them in the directory.
	for _, c := range configs {
		if err := b.start(c.g); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// lookups measures LOOKUP_X at the standalone gateway (its registry) and
// at agent a1 (its directory cache), each for o.names nodes, and at agent
// a2 for its own nodes, in turns.
func (b *bench) lookups(ctx context.Context, t *topology) ([]*phase, error) {
	names := make([]string, b.o.names)
	for i := range names {
		names[i] = fmt.Sprintf("n%04d", i)
	}
	for _, g := range []*gateway{t.alone, t.a2} {
		regs, err := register(ctx, g.epmd, names, 4)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g.name, err)
		}
		defer closeAll(regs)
	}
	if err := waitFor("a1 to hold a2's registrations", 30*time.Second, func() bool {
		return t.a1.siteNodes() >= b.o.names
	}); err != nil {
		return nil, err
	}
	lookupX := func(host string) func(i int) []byte {
		return func(i int) []byte {
			return epmd.LookupRequest{Node: names[i%len(names)] + "@" + host, Accept: []string{"inet_tcp"}}.Append(nil)
		}
	}
	phases := []*phase{
		{name: "standalone, its own nodes (registry)", g: t.alone, payload: lookupX("h.bench.example")},
		{name: "agent a1, nodes of host a2 (site directory cache)", g: t.a1, payload: lookupX("a2.site-a.example")},
		{name: "agent a2, its own nodes (registry)", g: t.a2, payload: lookupX("a2.site-a.example")},
	}
	for round := range b.o.rounds {
		for i, p := range phases {
			var prof chan error
			if round == 0 && b.o.profile != "" {
				prof = make(chan error, 1)
				go func() {
					prof <- p.g.profile(filepath.Join(b.o.profile, fmt.Sprintf("lookups-%d-%s.pprof", i, p.g.name)), b.o.duration)
				}()
			}
			if err := p.run(b.o); err != nil {
				return nil, err
			}
			if prof != nil {
				if err := <-prof; err != nil {
					return nil, err
				}
			}
		}
	}
	return phases, nil
}
