//go:build linux

package main

import (
	"fmt"

	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
	"github.com/distgate/distgate/bench/wanem"
	"github.com/distgate/distgate/internal/freeport"
)

// The paths, in the order they run and print.
const (
	pathDirect       = "direct"
	pathDirectCubic  = "direct_cubic" // -wan only
	pathOTPTLS       = "otp_tls"
	pathStunnel      = "stunnel"
	pathDistgateTLS  = "distgate_tls"
	pathDistgateQUIC = "distgate_quic"
	pathTerminate    = "distgate_terminate"
)

var allPaths = []string{pathDirect, pathOTPTLS, pathStunnel, pathDistgateTLS, pathDistgateQUIC, pathTerminate}

// pathLabels say what each path is, for the table's legend.
var pathLabels = map[string]string{
	pathDirect:       "TCP distribution, node to node",
	pathDirectCubic:  "direct, with both sites' TCP congestion control set to cubic for this path (a loss-based controller, as quic-go's)",
	pathOTPTLS:       "OTP inet_tls_dist, node to node (OTP's default TLS settings)",
	pathStunnel:      "TCP distribution through an stunnel client and server (TLS 1.3, " + stunnelSuite + ")",
	pathDistgateTLS:  "TCP distribution through two distgate gateways, TLS 1.3 link",
	pathDistgateQUIC: "TCP distribution through two distgate gateways, QUIC link",
	pathTerminate:    "inet_tls_dist sender, a distgate gateway terminating TLS, a TCP-distribution receiver",
}

// sizes are the message sizes of the throughput phases.
var sizes = []int{1 << 10, 64 << 10}

// pathEnv is a path ready to run: how to start its two nodes and the
// relay processes between them, whose CPU the phases report.
type pathEnv struct {
	rx, tx  nodeSpec
	relays  []*child
	sites   []*site // the gateways, for profiles
	cleanup func()
}

// setupPath starts what a path needs besides the two nodes.
func (b *bench) setupPath(name string) (*pathEnv, error) {
	switch name {
	case pathDirectCubic:
		return b.setupDirectCubic()
	case pathDirect, pathOTPTLS, pathStunnel:
		rxPort, err := freeport.TCP()
		if err != nil {
			return nil, err
		}
		env := &pathEnv{
			rx: nodeSpec{name: "rx@" + benchHost, at: b.rxAt, args: []string{"-epmd_module", "bench_node", "-bench_listen", strconv.Itoa(rxPort)}},
			tx: nodeSpec{name: "tx@" + benchHost, at: b.txAt, args: []string{"-epmd_module", "bench_node",
				"-bench_peer_addr", b.rxAt.addr, "-bench_peer_port", strconv.Itoa(rxPort)}},
			cleanup: func() {},
		}
		switch name {
		case pathOTPTLS:
			tls := []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", b.tls.DistConf}
			env.rx.args = append(env.rx.args, tls...)
			env.tx.args = append(env.tx.args, tls...)
		case pathStunnel:
			serverPort, err1 := freeport.TCP()
			clientPort, err2 := freeport.TCP()
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("free ports: %v %v", err1, err2)
			}
			// The sender dials the stunnel client beside it, which
			// dials the stunnel server beside the receiver, which dials
			// the receiver.
			serverAddr := net.JoinHostPort(b.rxAt.addr, strconv.Itoa(serverPort))
			srv, err := startStunnel(b.ctx, b.stunnel, b.dir, "stunnel-server", false, b.rxAt,
				serverAddr, "127.0.0.1:"+strconv.Itoa(rxPort), b.tls)
			if err != nil {
				return nil, err
			}
			cli, err := startStunnel(b.ctx, b.stunnel, b.dir, "stunnel-client", true, b.txAt,
				"127.0.0.1:"+strconv.Itoa(clientPort), serverAddr, b.tls)
			if err != nil {
				srv.Stop()
				return nil, err
			}
			env.tx.args = []string{"-epmd_module", "bench_node", "-bench_peer_addr", "127.0.0.1", "-bench_peer_port", strconv.Itoa(clientPort)}
			env.relays = []*child{cli, srv}
			env.cleanup = func() { cli.Stop(); srv.Stop() }
		}
		return env, nil
	case pathDistgateTLS, pathDistgateQUIC:
		transport := "tls"
		if name == pathDistgateQUIC {
			transport = "quic"
		}
		a, s, err := gatewayPair(b.ctx, b.o.distgate, b.dir, transport, b.o.gatewayEnv, b.txAt, b.rxAt, 0, "")
		if err != nil {
			return nil, err
		}
		mod := []string{"-epmd_module", "distgate_epmd"}
		return &pathEnv{
			rx:      nodeSpec{name: "rx@" + s.host, at: b.rxAt, args: mod, env: []string{"ERL_EPMD_PORT=" + strconv.Itoa(s.epmdPort)}},
			tx:      nodeSpec{name: "tx@" + a.host, at: b.txAt, args: mod, env: []string{"ERL_EPMD_PORT=" + strconv.Itoa(a.epmdPort)}},
			relays:  []*child{a.proc, s.proc},
			sites:   []*site{a, s},
			cleanup: func() { a.stop(); s.stop() },
		}, nil
	case pathTerminate:
		return b.setupTerminate()
	case pathFilterOff, pathFilterAllowAll, pathFilterNoExec:
		return b.setupFilter(name)
	}
	return nil, fmt.Errorf("unknown path %q", name)
}

// setupTerminate starts a gateway that terminates TLS for the receiver:
// the sender speaks OTP's inet_tls_dist (verify_peer against the
// gateway's CA, the same options as the otp_tls path otherwise) to the
// receiver's TLS port on the gateway, which relays to the receiver's plain
// TCP distribution port.
func (b *bench) setupTerminate() (*pathEnv, error) {
	s, err := terminateSite(b.ctx, b.o.distgate, b.dir, b.o.gatewayEnv)
	if err != nil {
		return nil, err
	}
	port, err := s.terminationPort(b.ctx, "rx")
	if err != nil {
		s.stop()
		return nil, err
	}
	conf, err := callerDistConf(b.dir, b.tls, filepath.Join(s.dataDir(), "identity.crt"))
	if err != nil {
		s.stop()
		return nil, err
	}
	mod := []string{"-epmd_module", "distgate_epmd"}
	return &pathEnv{
		rx: nodeSpec{name: "rx@" + benchHost, args: mod, env: []string{"ERL_EPMD_PORT=" + strconv.Itoa(s.epmdPort)}},
		tx: nodeSpec{name: "tx@" + benchHost, args: []string{"-epmd_module", "bench_node", "-bench_peer_port", strconv.Itoa(port),
			"-proto_dist", "inet_tls", "-ssl_dist_optfile", conf}},
		relays:  []*child{s.proc},
		sites:   []*site{s},
		cleanup: s.stop,
	}, nil
}

// tputResult is what the receiver counted in a throughput phase.
type tputResult struct {
	bytes, msgs int64
	elapsed     time.Duration // first to last message at the receiver
}

// mbps is the delivered throughput in MB/s (10^6 bytes per second).
func (t tputResult) mbps() float64 {
	if t.elapsed <= 0 {
		return 0
	}
	return float64(t.bytes) / t.elapsed.Seconds() / 1e6
}

// rttResult is the ping-pong phase.
type rttResult struct {
	n              int64
	p50, p99, mean time.Duration
}

// phaseCPU is the CPU the processes of a path used during one phase, in
// percent of one core.
type phaseCPU struct {
	phase   string
	elapsed time.Duration
	procs   []float64 // sender, receiver, then the relays
	system  float64   // every process of the machine
	irq     float64   // irq and softirq time of the machine
	steal   float64   // time the hypervisor took
	emu     emuPhase  // the WAN emulator's share (-wan), in the bench's own process
}

// emuPhase is what the WAN emulator did during a phase.
type emuPhase struct {
	cpu                                  float64 // % of one core
	packets, lost, queueDrops, kernDrops uint64
}

// pathResult is everything measured on one path.
type pathResult struct {
	name    string
	relays  []string // names of the relay processes
	connect time.Duration
	tput    map[int]tputResult
	rtt     rttResult
	cpu     []phaseCPU
	links   []linkStat // the sending gateway's links at the end of the last throughput phase (-wan)
	wire    wirePhase  // the data direction's packets at each hop in the last throughput phase (-wan)
	// The handshake of the first link the sending gateway dialled, and
	// whether it resumed a session (-wan).
	linkSetup time.Duration
	resumed   bool
}

// startSpinners starts one busy loop per CPU at the SCHED_IDLE policy,
// which any other runnable thread preempts at once: the CPUs never go idle,
// so a wakeup costs a context switch and not the exit from a halted
// (virtual) CPU. It returns the function that stops them.
func startSpinners() (func(), error) {
	var cs []*child
	stop := func() {
		for _, c := range cs {
			c.Cmd.Process.Kill()
			<-c.Done
		}
		cs = nil
	}
	for i := range runtime.NumCPU() {
		c, err := startChild(fmt.Sprintf("spinner %d", i), local, nil, false, "chrt", "--idle", "0", "sh", "-c", "while :; do :; done")
		if err != nil {
			stop()
			return nil, fmt.Errorf("-rtt-spin: %w", err)
		}
		cs = append(cs, c)
	}
	return stop, nil
}

// brief is a one-line progress report.
func (r pathResult) brief() string {
	return fmt.Sprintf("1 KiB %.0f MB/s, 64 KiB %.0f MB/s, rtt p50 %d µs", r.tput[sizes[0]].mbps(), r.tput[sizes[1]].mbps(), r.rtt.p50.Microseconds())
}

// bestOf combines rounds of one path: the highest throughput of each size,
// the round trip of the round with the lowest median, the shortest setup,
// and the CPU of the round with the highest 64 KiB throughput.
func bestOf(rs []pathResult) pathResult {
	best := rs[0]
	best.tput = map[int]tputResult{}
	cpuFrom := rs[0].tput[sizes[1]].mbps()
	for _, r := range rs {
		for size, t := range r.tput {
			if t.mbps() > best.tput[size].mbps() {
				best.tput[size] = t
			}
		}
		if r.rtt.n > 0 && (best.rtt.n == 0 || r.rtt.p50 < best.rtt.p50) {
			best.rtt = r.rtt
		}
		if r.connect < best.connect {
			best.connect = r.connect
		}
		if v := r.tput[sizes[1]].mbps(); v > cpuFrom {
			best.cpu, cpuFrom = r.cpu, v
		}
	}
	return best
}

// cpuSnap is the CPU counters at one instant.
type cpuSnap struct {
	at     time.Time
	procs  []int64
	system sysTicks
	emu    wanem.Stats // zero without an emulator
}

// other is the CPU every process outside the path used.
func (c phaseCPU) other() float64 {
	o := c.system
	for _, p := range c.procs {
		o -= p
	}
	return max(o-c.emu.cpu, 0)
}

// snapCPU reads the counters of pids, of the machine, and of the WAN
// emulator when there is one.
func snapCPU(pids []int, emu *wanem.Emulator) cpuSnap {
	s := cpuSnap{at: time.Now(), procs: make([]int64, len(pids))}
	if emu != nil {
		s.emu = emu.Stats()
	}
	for i, pid := range pids {
		s.procs[i], _ = benchutil.CPUTicks(pid)
	}
	s.system, _ = systemTicks()
	return s
}

func cpuBetween(phase string, a, b cpuSnap) phaseCPU {
	el := b.at.Sub(a.at)
	pc := phaseCPU{phase: phase, elapsed: el, procs: make([]float64, len(a.procs))}
	if el <= 0 {
		return pc
	}
	pct := func(ticks int64) float64 { return 100 * float64(ticks) / benchutil.ClockTicks / el.Seconds() }
	for i := range a.procs {
		pc.procs[i] = pct(b.procs[i] - a.procs[i])
	}
	pc.system = pct(b.system.procs - a.system.procs)
	pc.irq = pct(b.system.irq - a.system.irq)
	pc.steal = pct(b.system.steal - a.system.steal)
	ea, eb := a.emu, b.emu
	pc.emu = emuPhase{
		cpu:     100 * float64(eb.User+eb.System-ea.User-ea.System) / float64(el),
		packets: eb.AB.Packets + eb.BA.Packets - ea.AB.Packets - ea.BA.Packets,
	}
	for _, d := range [][2]wanem.DirStats{{ea.AB, eb.AB}, {ea.BA, eb.BA}} {
		pc.emu.lost += d[1].Drops[wanem.DropLoss] + d[1].Drops[wanem.DropBurst] - d[0].Drops[wanem.DropLoss] - d[0].Drops[wanem.DropBurst]
		pc.emu.queueDrops += d[1].Drops[wanem.DropQueue] - d[0].Drops[wanem.DropQueue]
		pc.emu.kernDrops += d[1].KernelDropsIn + d[1].KernelDropsOut - d[0].KernelDropsIn - d[0].KernelDropsOut
	}
	return pc
}

// runPath runs one path: its relays, the receiver, then the sender's
// phases, sampling the CPU of every process at each phase's start and end.
func (b *bench) runPath(name string) (res pathResult, err error) {
	res = pathResult{name: name, tput: map[int]tputResult{}}
	env, err := b.setupPath(name)
	if err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	defer env.cleanup()
	for _, r := range env.relays {
		res.relays = append(res.relays, r.Name)
	}
	rx, err := b.startReceiver(env.rx)
	if err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	defer rx.Stop()
	tx, err := b.startSender(env.tx, env.rx.name, b.mainRun())
	if err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	defer tx.Stop()
	pids := []int{tx.Pid(), rx.Pid()}
	for _, r := range env.relays {
		pids = append(pids, r.Pid())
	}
	fail := func(err error) (pathResult, error) {
		var logs string
		for _, r := range env.relays {
			logs += fmt.Sprintf("\n--- %s:\n%s", r.Name, tail(r.Out.String(), 3000))
		}
		return res, fmt.Errorf("%s: %w\n--- receiver:\n%s%s", name, err, tail(rx.Out.String(), 3000), logs)
	}
	var begin cpuSnap
	var wireBegin wireSnap
	var cwndStop chan struct{}
	var cwndDone chan []cwndSample
	defer func() {
		if cwndStop != nil { // the phase failed
			close(cwndStop)
			<-cwndDone
		}
	}()
	var phase string
	var prof *profiler
	stopSpin := func() {}
	limit := b.o.duration + 90*time.Second
	for {
		l, err := tx.WaitLine(b.ctx, "", limit)
		if err != nil {
			return fail(err)
		}
		sl, err := parseSenderLine(l)
		if err != nil {
			return fail(err)
		}
		switch sl.kind {
		case "CRASH":
			tx.WaitLine(b.ctx, "\x00", 2*time.Second) // collect the rest of the report
			return fail(fmt.Errorf("%w:\n%s", errSenderCrashed, tx.Out))
		case "CONNECT":
			res.connect = time.Duration(sl.nums[0]) * time.Microsecond
		case "BEGIN":
			phase = sl.phase
			if phase == "rtt" && b.o.rttSpin {
				if stopSpin, err = startSpinners(); err != nil {
					return fail(err)
				}
				defer stopSpin()
			}
			prof = b.startProfiles(name, phase, env, pids)
			if b.emu != nil && phase != "rtt" {
				wireBegin = b.snapWire(env, pids[0], pids[1])
				var read func() (cwndSample, bool)
				switch name {
				case pathDistgateQUIC:
					read = b.quicCwnd(env.sites[0])
				case pathDirect, pathDirectCubic:
					read = b.tcpCwnd(b.txAt.ns)
				}
				if read != nil {
					cwndStop, cwndDone = make(chan struct{}), make(chan []cwndSample, 1)
					go func() { cwndDone <- b.sampleCwnd(read, cwndStop) }()
				}
			}
			begin = snapCPU(pids, b.emu)
		case "END":
			res.cpu = append(res.cpu, cpuBetween(phase, begin, snapCPU(pids, b.emu)))
			if b.emu != nil && phase != "rtt" {
				res.wire = wireBetween(wireBegin, b.snapWire(env, pids[0], pids[1]))
				if cwndStop != nil {
					close(cwndStop)
					res.wire.cwnd, cwndStop = <-cwndDone, nil
				}
				if name == pathDistgateQUIC {
					res.wire.sockets = append(udpSockets(b.ctx, b.txAt.ns), udpSockets(b.ctx, b.rxAt.ns)...)
				}
			}
			if b.emu != nil && len(env.sites) > 0 {
				res.links = env.sites[0].linkStats(b.ctx)
				res.linkSetup, res.resumed = linkHandshake(env.sites[0].proc.Out.String())
			}
			prof.wait()
			stopSpin()
		case "TPUT":
			res.tput[int(sl.nums[0])] = tputResult{bytes: sl.nums[1], msgs: sl.nums[2], elapsed: time.Duration(sl.nums[3]) * time.Microsecond}
		case "RTT":
			res.rtt = rttResult{n: sl.nums[0], p50: time.Duration(sl.nums[1]) * time.Microsecond,
				p99: time.Duration(sl.nums[2]) * time.Microsecond, mean: time.Duration(sl.nums[3]) * time.Microsecond}
		case "DONE":
			if b.emu != nil {
				if res.rtt, err = b.loadedRTT(env); err != nil {
					return fail(err)
				}
			}
			return res, nil
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// profiler collects the profiles of one phase.
type profiler struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
	out  func(error)
}

func (p *profiler) wait() {
	if p == nil {
		return
	}
	p.wg.Wait()
	for _, err := range p.errs {
		p.out(err)
	}
}

func (p *profiler) run(f func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := f(); err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
	}()
}

// startProfiles starts, for a phase, a CPU profile of each gateway over
// its admin API (-pprof; throughput phases) and a perf recording or
// syscall summary of every process of the path (-perf, -perf-mode). They
// last the phase's whole seconds.
func (b *bench) startProfiles(path, phase string, env *pathEnv, pids []int) *profiler {
	secs := int(b.o.duration / time.Second)
	if secs < 1 || (b.o.pprofDir == "" && b.o.perfDir == "" && b.o.traceDir == "") {
		return nil
	}
	p := &profiler{out: func(err error) { fmt.Fprintf(b.stdout, "profile: %v\n", err) }}
	tag := path + "-" + sizeTag(phase)
	if b.o.pprofDir != "" && phase != "rtt" {
		for _, s := range env.sites {
			file := filepath.Join(b.o.pprofDir, tag+"-"+s.name+".pprof")
			p.run(func() error { return s.cpuProfile(b.ctx, secs, file) })
		}
	}
	if b.o.traceDir != "" && phase != "rtt" && secs >= 4 {
		for _, s := range env.sites {
			file := filepath.Join(b.o.traceDir, tag+"-"+s.name+".trace")
			p.run(func() error { return s.goTrace(b.ctx, time.Duration(secs-3)*time.Second/2, 3, file) })
		}
	}
	if b.o.perfDir != "" {
		var args []string
		if b.o.perfMode == "trace" {
			args = []string{"trace", "-s", "-o", filepath.Join(b.o.perfDir, tag+".trace.txt"), "-p", joinInts(pids), "--", "sleep", strconv.Itoa(secs)}
		} else {
			args = []string{"record", "-q", "-g", "-F", "499", "-o", filepath.Join(b.o.perfDir, tag+".perf.data"), "-p", joinInts(pids), "--", "sleep", strconv.Itoa(secs)}
		}
		p.run(func() error {
			if out, err := exec.CommandContext(b.ctx, "perf", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("perf %v: %v\n%s", args, err, out)
			}
			return nil
		})
	}
	return p
}

// sizeTag turns "tput 65536" into "64k".
func sizeTag(phase string) string {
	var n int
	if _, err := fmt.Sscanf(phase, "tput %d", &n); err != nil {
		return phase
	}
	return strconv.Itoa(n>>10) + "k"
}

func joinInts(xs []int) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(x)
	}
	return s
}

// mkdirs creates the profile directories asked for.
func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}
