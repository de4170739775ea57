package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distgate/distgate/bench/wanem"
	"github.com/distgate/distgate/epmd"
)

// Two sites in network namespaces joined by the WAN emulator (bench/wanem),
// each with its gateway and an Erlang node, as a new user would set them
// up: the ports are the defaults, each namespace has its own.
const (
	wanEPMD  = "127.0.0.1:4369"
	wanAdmin = "127.0.0.1:4370"
	wanLink  = 4371
)

// wanSite is a gateway in one namespace of a testbed.
type wanSite struct {
	name, host string
	ns         wanem.Site
	dir        string
	config     string
	id         string
	tick       time.Duration // the route's tick; 0: none
	proc       *proc
}

func newWanSite(t testing.TB, name string, ns wanem.Site) *wanSite {
	t.Helper()
	s := &wanSite{name: name, host: "n1." + name + ".example", ns: ns, dir: t.TempDir()}
	s.config = filepath.Join(s.dir, "distgate.yaml")
	out, errOut, code := runCmd(t, nil, distgateBin(t), "id", "-data", filepath.Join(s.dir, "data"))
	if code != 0 {
		t.Fatalf("distgate id: %s", errOut)
	}
	s.id = strings.TrimSpace(out)
	return s
}

func (s *wanSite) link() string { return fmt.Sprintf("%s:%d", s.ns.Addr, wanLink) }

// writeConfig routes the peer's node names over transport with liveness
// (and the site's tick, when set).
func (s *wanSite) writeConfig(t testing.TB, peer *wanSite, transport string, liveness time.Duration) {
	t.Helper()
	tick := ""
	if s.tick > 0 {
		tick = fmt.Sprintf(", tick: %s", s.tick)
	}
	writeFile(t, s.config, fmt.Sprintf(`site: %[1]s
data_dir: %[2]s
epmd: {listen: %[3]q, hosts: [%[4]s]}
admin: {listen: %[5]q}
links: {quic: %[6]q, tls: %[6]q}
peers:
  - {site: %[7]s, quic: %[8]q, tls: %[8]q, identity: %[9]s}
routes:
  - {match: "*@*.%[7]s.example", site: %[7]s, transport: %[10]s, liveness: %[11]s%[12]s}
`, s.name, filepath.Join(s.dir, "data"), wanEPMD, s.host, wanAdmin, s.link(), peer.name, peer.link(), peer.id, transport, liveness, tick))
}

// command runs name in the site's namespace (ip execs it: the PID is its).
func (s *wanSite) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", string(s.ns.Netns), name}, args...)...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT=4369")
	return cmd
}

// start runs the gateway and waits for its admin API, the last listener
// it opens.
func (s *wanSite) start(t testing.TB) {
	t.Helper()
	s.proc = startProc(t, nil, "ip", "netns", "exec", string(s.ns.Netns), distgateBin(t), "run", "-config", s.config)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := s.ns.Dial(ctx, "tcp", wanAdmin)
		cancel()
		if err == nil {
			c.Close()
			return
		}
		if s.proc.exited(0) || time.Now().After(deadline) {
			t.Fatalf("gateway %s does not listen on %s: %v\n%s", s.name, wanAdmin, s.proc.err, s.proc.out)
		}
	}
}

// epmdClient talks to the gateway's EPMD inside the namespace.
func (s *wanSite) epmdClient() *epmd.Client {
	return &epmd.Client{Addr: wanEPMD, Timeout: 2 * time.Second, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return s.ns.Dial(ctx, network, addr)
	}}
}

// status runs `distgate status` in the namespace.
func (s *wanSite) status(t testing.TB) string {
	t.Helper()
	out, err := s.command(distgateBin(t), "status", "-config", s.config).CombinedOutput()
	if err != nil {
		t.Fatalf("distgate status at %s: %v\n%s", s.name, err, out)
	}
	return string(out)
}

// monitorExpr is a node's script: it connects to Peer (when Dial) or
// waits for Peer to connect, monitors it and prints UP, then DOWN at
// nodedown, and keeps running.
func monitorExpr(peer string, dial bool) string {
	connect := fmt.Sprintf(`pong = net_adm:ping('%s')`, peer)
	if !dial {
		connect = fmt.Sprintf(`W = fun Wait() -> case lists:member('%s', nodes()) of true -> ok; false -> timer:sleep(20), Wait() end end, W()`, peer)
	}
	return fmt.Sprintf(`%s,
		monitor_node('%s', true),
		io:format("UP~n"),
		receive {nodedown, _} -> io:format("DOWN~n") end,
		timer:sleep(infinity).`, connect, peer)
}

// fault is what happens to the link between the sites.
type fault int

const (
	frozen fault = iota // site B's gateway stopped (SIGSTOP)
	killed              // site B's gateway killed (SIGKILL)
	cut                 // the network between the sites cut both ways, silently
)

func (f fault) String() string { return [...]string{"frozen", "killed", "cut"}[f] }

// TestLinkLiveness: nodes of two sites connected through their gateways
// over QUIC or TLS (route liveness 3 s) see nodedown within the liveness
// (and some scheduling slack) when the peer gateway is frozen, killed, or
// the network between them is cut, and `distgate status` shows the link
// down. A frozen peer keeps acknowledging TCP, so a TLS link needs pings
// of its own to notice it.
func TestLinkLiveness(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl", "ip")
	requireRoot(t)
	for _, transport := range []string{"tls", "quic"} {
		for _, f := range []fault{frozen, killed, cut} {
			t.Run(transport+"/"+f.String(), func(t *testing.T) {
				t.Parallel()
				testLinkLiveness(t, transport, f)
			})
		}
	}
}

func testLinkLiveness(t *testing.T, transport string, f fault) {
	const liveness, slack = 3 * time.Second, 500 * time.Millisecond
	tb, err := wanem.StartTestbed(wanem.TestbedConfig{
		AB: wanem.Settings{Delay: time.Millisecond}, BA: wanem.Settings{Delay: time.Millisecond},
	})
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(func() { tb.Close() }) // after the processes (cleanups run last first)
	a, b := newWanSite(t, "site-a", tb.A), newWanSite(t, "site-b", tb.B)
	a.writeConfig(t, b, transport, liveness)
	b.writeConfig(t, a, transport, liveness)
	a.start(t)
	b.start(t)
	x, y := "x@"+a.host, "y@"+b.host
	yp, yw := startLines(t, b.command("erl", longNodeArgs(t, y, "-eval", monitorExpr(x, false))...))
	waitRegisteredWith(t, b.epmdClient(), "y", yp)
	xp, xw := startLines(t, a.command("erl", longNodeArgs(t, x, "-eval", monitorExpr(y, true))...))
	xw.waitLine(t, "UP", 30*time.Second, xp)
	yw.waitLine(t, "UP", 10*time.Second, yp)

	at := time.Now()
	switch f {
	case frozen:
		b.proc.cmd.Process.Signal(syscall.SIGSTOP)
		t.Cleanup(func() { b.proc.cmd.Process.Signal(syscall.SIGCONT) })
	case killed:
		b.proc.cmd.Process.Signal(syscall.SIGKILL)
	case cut:
		if err := tb.Emulator.Partition(wanem.Both, true); err != nil {
			t.Fatal(err)
		}
	}
	xw.waitLine(t, "DOWN", liveness+10*time.Second, xp)
	down := time.Since(at)
	t.Logf("%s, %s: nodedown at site A %v after the fault", transport, f, down.Round(time.Millisecond))
	if down > liveness+slack {
		t.Errorf("nodedown %v after the fault, liveness %v", down.Round(time.Millisecond), liveness)
	}
	if f == cut { // site B sees it too
		yw.waitLine(t, "DOWN", liveness+10*time.Second, yp)
		down := time.Since(at)
		t.Logf("%s, %s: nodedown at site B %v after the fault", transport, f, down.Round(time.Millisecond))
		if down > liveness+slack {
			t.Errorf("nodedown at site B %v after the fault, liveness %v", down.Round(time.Millisecond), liveness)
		}
	}
	checkDown := func(s *wanSite, peer string) {
		t.Helper()
		st := s.status(t)
		for l := range strings.Lines(st) {
			if f := strings.Fields(l); len(f) > 0 && f[0] == peer && !strings.Contains(l, "down") {
				t.Errorf("%s's status shows a link to %s that is not down:\n%s", s.name, peer, st)
				return
			}
		}
		if !strings.Contains(st, "down") {
			t.Errorf("%s's status does not show the link to %s down:\n%s", s.name, peer, st)
		}
	}
	checkDown(a, b.name)
	if f == cut {
		checkDown(b, a.name)
	}
	if t.Failed() {
		t.Logf("site A log:\n%s", tail(a.proc.out.String(), 3000))
		t.Logf("site B log:\n%s", tail(b.proc.out.String(), 3000))
	}
}

// waitRegisteredWith polls PORT_PLEASE2 until name is registered.
func waitRegisteredWith(t testing.TB, c *epmd.Client, name string, p *proc) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if info, err := c.PortPlease(context.Background(), name); err == nil && info != nil {
			return
		}
		if p.exited(0) {
			t.Fatalf("node %s exited before registering: %v\n%s", name, p.err, p.out)
		}
	}
	t.Fatalf("node %s did not register", name)
}
