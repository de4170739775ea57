//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/distgate/distgate/bench/wanem"
)

// The WAN bench (-wan, `make bench-wan`): the same paths and nodes, with
// the sender's side (its node, the stunnel client, gateway site-a) in
// site A of a wanem testbed and the receiver's side in site B, so that
// every path crosses the emulated link. Each scenario gets a testbed of
// its own. On each path the sender measures 64 KiB throughput and its
// connection setup; then, while a second sender (bulk@) sends 64 KiB
// messages to the same receiver over a connection of its own, a third
// (ping@) measures the round trip of small messages: the queueing a
// transfer causes to the other connections of the link.

// scenario is a WAN the paths are measured across.
type scenario struct {
	name, label string
	set         wanem.Settings // each direction
}

// rtt is the scenario's round trip without queueing.
func (s scenario) rtt() time.Duration { return 2 * s.set.Delay }

// scenarios are the WANs of issue 11: (a) a clean 400 Mbit/s link at
// 40 ms, (b) the same with 1% loss, (c) a long 200 Mbit/s link at 150 ms
// with 0.1% loss. Loss applies each way (data and acknowledgements).
// The bottleneck's queue is one bandwidth-delay product, a router's
// customary buffer (wanem's default, 1,000 full packets, is 0.75 of it
// at 40 ms and 0.4 at 150 ms): 2 MB in (a) and (b), 3.75 MB in (c).
var scenarios = []scenario{
	{"a", "40 ms RTT, no loss, 400 Mbit/s", bdpQueue(wanem.Settings{Delay: 20 * time.Millisecond, Rate: 400_000_000})},
	{"b", "40 ms RTT, 1% loss, 400 Mbit/s", bdpQueue(wanem.Settings{Delay: 20 * time.Millisecond, Loss: 0.01, Rate: 400_000_000})},
	{"c", "150 ms RTT, 0.1% loss, 200 Mbit/s", bdpQueue(wanem.Settings{Delay: 75 * time.Millisecond, Loss: 0.001, Rate: 200_000_000})},
}

// bdpQueue sets a rate-limited link's queue to its bandwidth-delay
// product: the rate (bits per second) times the round trip (twice the
// one-way delay).
func bdpQueue(s wanem.Settings) wanem.Settings {
	s.Queue = int(float64(s.Rate) / 8 * (2 * s.Delay).Seconds())
	return s
}

// wanPaths are the paths the WAN bench runs (the terminating gateway has
// no second site).
var wanPaths = []string{pathDirect, pathDirectCubic, pathOTPTLS, pathStunnel, pathDistgateTLS, pathDistgateQUIC}

// setupDirectCubic is the direct path with both sites' TCP congestion
// control set to cubic (net.ipv4.tcp_congestion_control is per network
// namespace; a socket takes it when it is made, so the nodes of this path
// run cubic) until the path ends: TCP with a loss-based controller of the
// family of quic-go's, beside the machine's (BBR on the bench machine,
// which does not take random loss for congestion).
func (b *bench) setupDirectCubic() (*pathEnv, error) {
	if b.emu == nil {
		return nil, fmt.Errorf("%s: only across the WAN (-wan)", pathDirectCubic)
	}
	var undo []func()
	restore := func() {
		for _, u := range slices.Backward(undo) {
			u()
		}
	}
	// A namespace other than the first may only take a controller of
	// net.ipv4.tcp_allowed_congestion_control (the machine's; this one's
	// may list only reno and bbr).
	allowed := strings.TrimSpace(readFile(allowedCC))
	if !slices.Contains(strings.Fields(allowed), "cubic") {
		if err := os.WriteFile(allowedCC, []byte(allowed+" cubic"), 0o644); err != nil {
			return nil, fmt.Errorf("%s: allow cubic: %w", pathDirectCubic, err)
		}
		undo = append(undo, func() { os.WriteFile(allowedCC, []byte(allowed), 0o644) })
	}
	for _, ns := range []wanem.Netns{b.txAt.ns, b.rxAt.ns} {
		old := nsTCPCC(b.ctx, ns)
		if err := setTCPCC(b.ctx, ns, "cubic"); err != nil {
			restore()
			return nil, fmt.Errorf("%s: %w", pathDirectCubic, err)
		}
		undo = append(undo, func() { setTCPCC(context.Background(), ns, old) })
	}
	env, err := b.setupPath(pathDirect)
	if err != nil {
		restore()
		return nil, err
	}
	cleanup := env.cleanup
	env.cleanup = func() { cleanup(); restore() }
	return env, nil
}

const allowedCC = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// setTCPCC sets a namespace's TCP congestion control.
func setTCPCC(ctx context.Context, ns wanem.Netns, cc string) error {
	if out, err := ns.Command(ctx, "sysctl", "-qw", "net.ipv4.tcp_congestion_control="+cc).CombinedOutput(); err != nil {
		return fmt.Errorf("sysctl net.ipv4.tcp_congestion_control=%s in %s: %v: %s", cc, ns, err, out)
	}
	return nil
}

// mainRun is what a path's first sender does: on loopback, every size
// and the round trips; across the WAN, 64 KiB messages only (the round
// trips come under load, from loadedRTT).
func (b *bench) mainRun() senderRun {
	if b.emu != nil {
		return senderRun{sizes: []int{64 << 10}, duration: b.o.duration}
	}
	return senderRun{sizes: sizes, duration: b.o.duration, rttCount: b.o.rttCount}
}

// bulkSettle is how long the bulk transfer of loadedRTT runs before the
// round trips are measured: past slow start at 150 ms.
const bulkSettle = 2 * time.Second

// loadedRTT measures the round trip of small messages from a new node of
// the sender's side (ping@) to the path's receiver while another node
// (bulk@) sends it 64 KiB messages.
func (b *bench) loadedRTT(env *pathEnv) (rttResult, error) {
	bulk, err := b.startSender(renamed(env.tx, "bulk"), env.rx.name,
		senderRun{sizes: []int{64 << 10}, duration: b.o.duration + bulkSettle + 60*time.Second})
	if err != nil {
		return rttResult{}, err
	}
	defer bulk.Stop()
	if _, err := bulk.WaitLine(b.ctx, "BEGIN tput", 60*time.Second); err != nil {
		return rttResult{}, fmt.Errorf("bulk sender: %w", err)
	}
	select {
	case <-time.After(bulkSettle):
	case <-b.ctx.Done():
		return rttResult{}, b.ctx.Err()
	}
	ping, err := b.startSender(renamed(env.tx, "ping"), env.rx.name, senderRun{duration: b.o.duration, rttCount: b.o.rttCount})
	if err != nil {
		return rttResult{}, err
	}
	defer ping.Stop()
	l, err := ping.WaitLine(b.ctx, "RTT", b.o.duration+90*time.Second)
	if err != nil {
		return rttResult{}, fmt.Errorf("ping sender: %w", err)
	}
	sl, err := parseSenderLine(l)
	if err != nil {
		return rttResult{}, err
	}
	if bulk.Exited() {
		return rttResult{}, fmt.Errorf("the bulk sender ended before the round trips did:\n%s", bulk.Out)
	}
	return rttResult{n: sl.nums[0], p50: time.Duration(sl.nums[1]) * time.Microsecond,
		p99: time.Duration(sl.nums[2]) * time.Microsecond, mean: time.Duration(sl.nums[3]) * time.Microsecond}, nil
}

// renamed is a node like n with another short name.
func renamed(n nodeSpec, short string) nodeSpec {
	_, host, _ := strings.Cut(n.name, "@")
	n.name = short + "@" + host
	return n
}

// wanResult is one scenario's paths.
type wanResult struct {
	sc      scenario
	results []pathResult
	setups  []linkSetup // of the gateway transports, fresh and resumed
}

// runWAN runs the paths across each scenario's testbed and prints a table
// per scenario, the targets, and the last line.
func (b *bench) runWAN(stdout io.Writer) error {
	var all []wanResult
	var errs []error
	for _, name := range b.o.wan {
		sc, _ := scenarioNamed(name)
		r, err := b.runScenario(sc)
		errs = append(errs, err)
		if len(r.results) > 0 {
			all = append(all, r)
		}
		if b.ctx.Err() != nil {
			return b.ctx.Err()
		}
	}
	fmt.Fprintln(stdout)
	for _, r := range all {
		printWAN(stdout, r, b.o.rounds)
		fmt.Fprintln(stdout)
	}
	s := summarizeWAN(all)
	printWANTargets(stdout, s)
	fmt.Fprintln(stdout, s.line())
	return errors.Join(errs...)
}

func scenarioNamed(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

// runScenario starts a testbed, runs every path in it (-rounds times,
// interleaved), and stops it.
func (b *bench) runScenario(sc scenario) (wanResult, error) {
	res := wanResult{sc: sc}
	tb, err := wanem.StartTestbed(wanem.TestbedConfig{AB: sc.set, BA: sc.set})
	if err != nil {
		return res, fmt.Errorf("scenario %s: %w", sc.name, err)
	}
	defer tb.Close()
	// TCP Fast Open both ways (the default, 1, is the dialling side's
	// only): a resumed TLS link puts its ClientHello in the SYN.
	for _, s := range []wanem.Site{tb.A, tb.B} {
		if err := s.Netns.Command(b.ctx, "sysctl", "-qw", "net.ipv4.tcp_fastopen=3").Run(); err != nil {
			return res, fmt.Errorf("scenario %s: net.ipv4.tcp_fastopen=3: %w", sc.name, err)
		}
	}
	if b.o.tcpCC != "" {
		for _, s := range []wanem.Site{tb.A, tb.B} {
			if err := setTCPCC(b.ctx, s.Netns, b.o.tcpCC); err != nil {
				return res, fmt.Errorf("scenario %s: -tcp-cc: %w", sc.name, err)
			}
		}
	}
	b.txAt, b.rxAt, b.emu = siteOf(tb.A), siteOf(tb.B), tb.Emulator
	defer func() { b.txAt, b.rxAt, b.emu = local, local, nil }()
	fmt.Fprintf(b.stdout, "scenario %s: %s each way, a %.2f MB queue; TCP congestion control %s\n", sc.name, sc.label, float64(sc.set.Queue)/1e6, nsTCPCC(b.ctx, tb.A.Netns))
	rounds := map[string][]pathResult{}
	var errs []error
	for round := 1; round <= b.o.rounds; round++ {
		for _, p := range b.o.paths {
			if b.ctx.Err() != nil {
				return res, b.ctx.Err()
			}
			fmt.Fprintf(b.stdout, "running %s across %s (round %d of %d) ...\n", p, sc.name, round, b.o.rounds)
			r, err := b.runPath(p)
			if err != nil {
				fmt.Fprintf(b.stdout, "%s failed: %v\n", p, err)
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(b.stdout, "  64 KiB %.1f MB/s, setup %.0f ms, loaded rtt p50 %.1f ms p99 %.1f ms\n",
				r.tput[64<<10].mbps(), ms(r.connect), ms(r.rtt.p50), ms(r.rtt.p99))
			rounds[p] = append(rounds[p], r)
		}
	}
	for _, p := range b.o.paths {
		if len(rounds[p]) > 0 {
			res.results = append(res.results, bestOf(rounds[p]))
		}
	}
	res.setups = b.linkSetups(b.o.paths)
	return res, errors.Join(errs...)
}

// nsTCPCC reads a namespace's TCP congestion control.
func nsTCPCC(ctx context.Context, ns wanem.Netns) string {
	out, err := ns.Command(ctx, "sysctl", "-n", "net.ipv4.tcp_congestion_control").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// machineTCPCC is the TCP congestion control of the bench's namespace.
func machineTCPCC() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
