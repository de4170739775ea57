//go:build linux

// Command bridgebench measures Erlang distribution between two nodes on
// loopback over five paths, with the same Erlang sender and receiver
// (bench_node.erl, compiled at run time):
//
//   - direct: TCP distribution, node to node;
//   - otp_tls: OTP's inet_tls_dist, node to node, verify_peer both ways;
//   - stunnel: TCP distribution through an stunnel client and server
//     (Debian's stunnel4, TLS 1.3 with TLS_AES_128_GCM_SHA256);
//   - distgate_tls and distgate_quic: TCP distribution through two
//     `distgate run` gateways (site-a, site-b) linked over TLS or QUIC, the
//     nodes using distgate_epmd (erlang/distgate_epmd).
//
// Usage (what `make bench-bridge` runs):
//
//	go run ./bench/bridgebench -distgate bin/distgate [-duration 5s] [-rounds 2]
//	    [-paths direct,otp_tls,stunnel,distgate_tls,distgate_quic]
//	    [-conns 500] [-idle tls,quic] [-idle-bytes 256] [-rtt-spin]
//	    [-gateway-env "GOMAXPROCS=1"] [-pprof DIR] [-perf DIR [-perf-mode trace]]
//	    [-wan a,b,c [-tcp-cc cubic]]
//
// On each path the sender sends binaries of 1 KiB, then of 64 KiB, for
// -duration each, with at most -window bytes unacknowledged by the
// receiver (a sync message every eighth of the window), and the receiver
// reports the bytes delivered between its first and its last message.
// Then up to -rtt-count sequential ping-pongs (also bounded by -duration)
// give the round-trip time. The CPU of every process of the path (both
// nodes, and the stunnel pair or the gateways) is sampled from /proc at
// each phase's start and end. The paths run -rounds times, interleaved,
// and each figure keeps its best round: other load on a shared machine
// only ever slows a path down. A phase during which other processes kept
// more than a tenth of the machine busy is flagged in the report.
//
// Then, for each transport of -idle, a fresh gateway pair relays -conns
// connections from a Go client through site A's proxy port to an echo
// node registered at site B; each echoes a few bytes and goes idle. The
// VmRSS both gateways gained, after -settle, divided by the connections,
// is the memory per idle relayed connection.
//
// It prints the tables, then as its last line:
//
//	bridge tls_vs_stunnel=R quic_vs_stunnel=R tls_vs_otp_tls=R rtt_tls_vs_direct=R rss_kib_per_conn=K
//
// the 64 KiB throughput ratios, distgate TLS's median round trip over
// direct's, and the largest RSS per idle connection of any gateway.
//
// As root it raises net.core.rmem_max and wmem_max to 7,500,000 for the
// run (quic-go wants 7 MiB UDP buffers) and restores them at exit.
//
// With -wan a,b,c (`make bench-wan`, as root) the same paths run across
// the WAN emulator of bench/wanem instead of loopback, one testbed per
// scenario (wan.go): the sender, the stunnel client and gateway site-a in
// site A, the receiver, the stunnel server and site-b in site B. Each
// path reports its 64 KiB throughput, its first connection's setup, the
// round trip of small messages while another node sends bulk to the
// receiver, the CPU per byte of its relays and the emulator's CPU. Then
// a QUIC and a TLS link's setup, fresh and resumed (wan_setup.go), and
// the last line is
//
//	wan quic_vs_direct_a=R quic_vs_direct_b=R quic_vs_direct_c=R tls_vs_direct_b=R quic_vs_stunnel_b=R setup_quic_ms=MS setup_quic_rtts=N setup_tls_ms=MS setup_tls_rtts=N quic_vs_cubic_a=R quic_vs_cubic_b=R quic_vs_cubic_c=R
//
// where setup_quic_ms and setup_quic_rtts are a resumed QUIC link's
// handshake in scenario a (the median of five), in ms and round trips,
// setup_tls_* the same of a resumed TLS link (TCP Fast Open on in the
// bench's namespaces), and quic_vs_cubic_* QUIC's throughput over the direct_cubic path's: the
// direct path with both sites' TCP congestion control set to cubic for
// that path alone (a WAN-only path, among the WAN's defaults), TCP with a
// loss-based controller of quic-go's family. For each path the report
// also says where the data direction's packets died (the emulator's
// random loss and queue, the namespaces' UDP errors, the QUIC link's
// ends: wan_loss.go) and how the sender's congestion window went.
//
// -tcp-cc sets the sites' TCP congestion control (the machine's by
// default; Debian's is cubic, this bench machine's may be bbr).
//
// To find what limits a figure: -pprof DIR saves CPU profiles of both
// gateways for every distgate throughput phase (over their admin API) and
// heap profiles with the idle relays; -perf DIR runs `perf record -g` on
// every process of each path during each phase, or with -perf-mode trace
// `perf trace -s` (syscall counts per thread; it slows everything down);
// -gotrace DIR saves a 3-second Go execution trace of both gateways from
// the middle of each distgate throughput phase (go tool trace
// -pprof=sched).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distgate/distgate/bench/wanem"
)

func main() {
	os.Exit(doMain(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	distgate     string
	distgateEpmd string
	stunnel      string
	duration     time.Duration
	rttCount     int
	rounds       int
	rttSpin      bool
	window       int
	conns        int
	idleBytes    int
	settle       time.Duration
	paths        []string
	idle         []string
	erlFlags     string
	gatewayEnv   []string
	udpBuffers   bool
	pprofDir     string
	traceDir     string
	perfDir      string
	perfMode     string
	keep         bool
	filter       bool
	repo         string
	wan          []string // scenarios of the WAN bench; none: loopback
	tcpCC        string   // TCP congestion control of the WAN sites; "": the machine's
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var paths, idle, gatewayEnv, wan string
	fs := flag.NewFlagSet("bridgebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.distgate, "distgate", "", "path of the distgate binary (required)")
	fs.StringVar(&o.distgateEpmd, "distgate-epmd", "erlang/distgate_epmd/src", "the nodes' -epmd_module on the distgate paths (its source directory, or one .erl file)")
	fs.StringVar(&o.stunnel, "stunnel", "stunnel4", "stunnel: a path, or a name looked up in PATH")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each throughput phase, and most of the round-trip phase")
	fs.IntVar(&o.rttCount, "rtt-count", 20000, "most ping-pongs of the round-trip phase")
	fs.IntVar(&o.rounds, "rounds", 2, "run every path this many times, interleaved, and keep each figure's best (other load on the machine only ever slows a path)")
	fs.BoolVar(&o.rttSpin, "rtt-spin", false, "during the round-trip phases, keep every CPU busy with SCHED_IDLE spinners (chrt --idle), so that no wakeup pays for leaving an idle CPU")
	fs.IntVar(&o.window, "window", 8<<20, "most bytes the sender has unacknowledged by the receiver")
	fs.IntVar(&o.conns, "conns", 500, "idle relayed connections of the memory phase")
	fs.IntVar(&o.idleBytes, "idle-bytes", 256, "bytes each idle connection echoes through the relay before it goes quiet (a distribution handshake is a few hundred)")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait before each RSS reading of the memory phase")
	fs.StringVar(&paths, "paths", strings.Join(allPaths, ","), "paths to measure, in this order")
	fs.StringVar(&idle, "idle", "tls,quic", "link transports of the memory phase (empty: none)")
	fs.StringVar(&o.erlFlags, "erl-flags", "", "emulator flags of every node, e.g. \"+sbwt none\" (OTP's defaults by default: inet_tls_dist loses half its throughput without busy-waiting schedulers)")
	fs.StringVar(&gatewayEnv, "gateway-env", "", "extra environment of the gateways, space-separated `K=V` (GOMAXPROCS=1, GODEBUG=...)")
	fs.BoolVar(&o.udpBuffers, "udp-buffers", true, "as root, raise net.core.rmem_max/wmem_max to 7500000 for the run")
	fs.StringVar(&o.pprofDir, "pprof", "", "write CPU profiles of both gateways during each distgate throughput phase, and their heap profiles with the idle relays, to `dir`")
	fs.StringVar(&o.traceDir, "gotrace", "", "write a 3-second Go execution trace of both gateways, from the middle of each distgate throughput phase, to `dir` (go tool trace -pprof=sched: where goroutines waited for a CPU)")
	fs.StringVar(&o.perfDir, "perf", "", "perf record every process of each path during each throughput phase into `dir`")
	fs.StringVar(&o.perfMode, "perf-mode", "record", "what -perf does in each phase: record (perf record -g) or trace (perf trace -s: syscall counts per thread)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, logs)")
	fs.StringVar(&o.repo, "repo", ".", "the repository's root, where -filter finds samples/policies/no-remote-exec")
	fs.BoolVar(&o.filter, "filter", false, "measure the message filter instead (make bench-filter): the distgate_tls path with no filter policy, an allow-all one and no-remote-exec at the receiver's gateway; -paths and -idle are ignored")
	fs.StringVar(&wan, "wan", "", "run across the WAN emulator (bench/wanem, as root) in these scenarios instead of on loopback: a, b, c")
	fs.StringVar(&o.tcpCC, "tcp-cc", "", "with -wan: the TCP congestion control of both sites (cubic, bbr, reno; default: the machine's)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.paths = splitList(paths)
	o.idle = splitList(idle)
	if o.filter {
		o.paths, o.idle = filterPaths, nil
		// More, shorter rounds: the three paths interleave more often,
		// and each keeps its best.
		if !flagSet(fs, "rounds") {
			o.rounds = 4
		}
		if !flagSet(fs, "duration") {
			o.duration = 3 * time.Second
		}
	}
	o.gatewayEnv = strings.Fields(gatewayEnv)
	o.wan = splitList(wan)
	if o.filter && len(o.wan) > 0 {
		return o, errors.New("-filter and -wan measure different things: give one")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if len(o.wan) > 0 {
		if !set["paths"] {
			o.paths = wanPaths
		}
		if !set["idle"] {
			o.idle = nil
		}
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.distgate == "":
		return o, errors.New("-distgate PATH is required")
	case o.duration < 100*time.Millisecond:
		return o, errors.New("-duration must be at least 100ms")
	case o.rttCount < 1:
		return o, errors.New("-rtt-count must be positive")
	case o.rounds < 1 || o.rounds > 20:
		return o, errors.New("-rounds must be in 1..20")
	case o.window < 64<<10:
		return o, errors.New("-window must be at least 64 KiB")
	case o.conns < 1 || o.conns > 50000:
		return o, errors.New("-conns must be in 1..50000")
	case o.idleBytes < 1 || o.idleBytes > 64<<20:
		return o, errors.New("-idle-bytes must be in 1..64 MiB")
	case o.settle < 0:
		return o, errors.New("-settle must not be negative")
	case slices.ContainsFunc(o.gatewayEnv, func(kv string) bool { return !strings.Contains(kv, "=") }):
		return o, fmt.Errorf("-gateway-env: want K=V pairs, got %q", gatewayEnv)
	case o.perfMode != "record" && o.perfMode != "trace":
		return o, fmt.Errorf("-perf-mode: record or trace, not %q", o.perfMode)
	case len(o.paths) == 0:
		return o, errors.New("-paths is empty")
	}
	for _, p := range o.paths {
		if p == pathDirectCubic && len(o.wan) == 0 {
			return o, fmt.Errorf("-paths: %s runs only across the WAN (-wan)", p)
		}
		if !slices.Contains(allPaths, p) && !slices.Contains(filterPaths, p) && p != pathDirectCubic {
			return o, fmt.Errorf("-paths: unknown path %q (known: %s)", p, strings.Join(allPaths, ", "))
		}
	}
	for _, s := range o.wan {
		if _, ok := scenarioNamed(s); !ok {
			return o, fmt.Errorf("-wan: unknown scenario %q (a, b, c)", s)
		}
	}
	if len(o.wan) > 0 {
		for _, p := range o.paths {
			if !slices.Contains(wanPaths, p) {
				return o, fmt.Errorf("-paths: %s does not run across the WAN (%s do)", p, strings.Join(wanPaths, ", "))
			}
		}
		if len(o.idle) > 0 {
			return o, errors.New("-idle: the idle relays run on loopback only")
		}
	} else if o.tcpCC != "" {
		return o, errors.New("-tcp-cc needs -wan")
	}
	for _, t := range o.idle {
		if t != "tls" && t != "quic" {
			return o, fmt.Errorf("-idle: unknown transport %q (tls, quic)", t)
		}
	}
	return o, nil
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func doMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bridgebench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "bridgebench: %v\n", err)
		return 1
	}
	return 0
}

// bench is one run's shared state.
type bench struct {
	o       options
	ctx     context.Context
	stdout  io.Writer
	dir     string // work directory: configs, logs, data directories
	ebin    string // compiled Erlang modules
	stunnel string // stunnel's path
	tls     tlsFiles
	filters map[string]string // filter policies' modules by filter path (-filter)
	// Where the sender's side of a path runs, and the receiver's: local
	// on loopback, the two sites of the testbed across the WAN (-wan).
	txAt, rxAt place
	emu        *wanem.Emulator // the testbed's emulator (-wan); nil on loopback
}

// run checks the tools, prepares the work directory, runs every path and
// the memory phase, and prints the report. Every process it started is
// stopped before it returns.
func run(ctx context.Context, o options, stdout io.Writer) error {
	b := &bench{o: o, ctx: ctx, stdout: stdout, txAt: local, rxAt: local}
	var err error
	if o.distgate, err = filepath.Abs(o.distgate); err != nil {
		return err
	}
	if _, err := os.Stat(o.distgate); err != nil {
		return fmt.Errorf("distgate: %w", err)
	}
	if _, err := os.Stat(o.distgateEpmd); err != nil {
		return fmt.Errorf("-distgate-epmd: %w", err)
	}
	for _, tool := range []string{"erl", "erlc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s: %w (make deps installs Erlang/OTP)", tool, err)
		}
	}
	if slices.Contains(o.paths, pathStunnel) {
		if b.stunnel, err = lookStunnel(o.stunnel); err != nil {
			return err
		}
	}
	if o.perfDir != "" {
		if _, err := exec.LookPath("perf"); err != nil {
			return fmt.Errorf("-perf: %w", err)
		}
	}
	if err := mkdirs(o.pprofDir, o.perfDir, o.traceDir); err != nil {
		return err
	}
	if len(o.wan) > 0 && os.Geteuid() != 0 {
		return errors.New("-wan: network namespaces and TUN devices need root")
	}
	if err := raiseFileLimit(uint64(2*o.conns + 256)); err != nil {
		return err
	}
	if b.dir, err = os.MkdirTemp("", "bridgebench-"); err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintf(stdout, "work directory kept: %s\n", b.dir)
	} else {
		defer os.RemoveAll(b.dir)
	}
	b.ebin = filepath.Join(b.dir, "ebin")
	if err := os.Mkdir(b.ebin, 0o700); err != nil {
		return err
	}
	if err := compileErlang(b.ebin, o.distgateEpmd); err != nil {
		return err
	}
	if b.tls, err = makeTLSFiles(b.dir); err != nil {
		return err
	}
	if o.filter {
		if b.filters, err = filterPolicies(b.dir, o.repo); err != nil {
			return err
		}
	}
	udp := "not changed (-udp-buffers=false): " + readUDPBuffers()
	if o.udpBuffers {
		var restore func()
		udp, restore = raiseUDPBuffers()
		defer restore()
	}

	fmt.Fprintf(stdout, "bridgebench: %d CPUs, %s, %s, Go %s (bench)\n", runtime.NumCPU(), kernel(), erlVersion(), runtime.Version())
	if b.stunnel != "" {
		fmt.Fprintf(stdout, "stunnel: %s\n", stunnelVersion(b.stunnel))
	}
	fmt.Fprintf(stdout, "udp buffers: %s\n", udp)
	if len(o.gatewayEnv) > 0 {
		fmt.Fprintf(stdout, "gateways: environment %s\n", strings.Join(o.gatewayEnv, " "))
	}
	flags := o.erlFlags
	if flags == "" {
		flags = "(OTP's default emulator flags)"
	}
	fmt.Fprintf(stdout, "nodes: erl %s; %v per throughput phase, window %d KiB, at most %d ping-pongs\n",
		flags, o.duration, o.window>>10, o.rttCount)
	for _, p := range o.paths {
		fmt.Fprintf(stdout, "  %-14s %s\n", p, pathLabels[p])
	}
	if len(o.wan) > 0 {
		fmt.Fprintf(stdout, "across the WAN emulator (bench/wanem): the sender's side in site A, the receiver's in site B; the machine's TCP congestion control: %s\n", machineTCPCC())
		return b.runWAN(stdout)
	}

	rounds := map[string][]pathResult{}
	var errs []error
	for round := 1; round <= o.rounds; round++ {
		for _, p := range o.paths {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(stdout, "running %s (round %d of %d) ...\n", p, round, o.rounds)
			r, err := b.runPath(p)
			if err != nil {
				fmt.Fprintf(stdout, "%s failed: %v\n", p, err)
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(stdout, "  %s\n", r.brief())
			rounds[p] = append(rounds[p], r)
		}
	}
	var results []pathResult
	for _, p := range o.paths {
		if len(rounds[p]) > 0 {
			results = append(results, bestOf(rounds[p]))
		}
	}
	var mems []memResult
	for _, t := range o.idle {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(stdout, "running idle relays over %s (%d connections, %d bytes echoed by each) ...\n", t, o.conns, o.idleBytes)
		m, err := b.measureIdle(t)
		if err != nil {
			fmt.Fprintf(stdout, "idle relays over %s failed: %v\n", t, err)
			errs = append(errs, err)
			continue
		}
		mems = append(mems, m)
	}
	fmt.Fprintln(stdout)
	if o.rounds > 1 {
		fmt.Fprintf(stdout, "best of %d rounds: each path's highest throughputs, lowest round trip (p50) and setup; CPU of its round with the highest 64 KiB throughput\n", o.rounds)
	}
	printThroughput(stdout, results)
	fmt.Fprintln(stdout)
	printCPU(stdout, results)
	if len(mems) > 0 {
		fmt.Fprintln(stdout)
		printMemory(stdout, mems)
	}
	if o.filter {
		fmt.Fprintln(stdout)
		printFilter(stdout, results)
		return errors.Join(errs...)
	}
	s := summarize(results, mems)
	fmt.Fprintln(stdout)
	if slices.Contains(o.paths, pathTerminate) {
		printTerminate(stdout, s)
		fmt.Fprintln(stdout)
	}
	printTargets(stdout, s)
	fmt.Fprintln(stdout, s.line())
	return errors.Join(errs...)
}

func lookStunnel(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	if name == "stunnel4" {
		if p, err2 := exec.LookPath("stunnel"); err2 == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("stunnel: %w (make deps installs stunnel4)", err)
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "Linux"
	}
	return "Linux " + strings.TrimSpace(string(b))
}
