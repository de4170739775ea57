package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A site of many hosts, for real: each host is a network namespace on one
// bridge of 198.18.0.0/15 addresses (the test's own, never routed), with
// its own loopback, so that every agent's EPMD is on 127.0.0.1:4369 of its
// host as in production. etcd runs in the test's namespace on the bridge's
// address, which every host reaches.

// siteNet is the bridge and its hosts.
type siteNet struct {
	id     string
	bridge string
	prefix string // "198.18.N."
	gw     string // the bridge's address, in the test's namespace
	next   int
}

// nsHost is one host: a namespace with an address on the bridge.
type nsHost struct {
	name string // a1, eb1, ...
	ns   string
	ip   string
}

func ipRun(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newSiteNet creates the bridge; hosts are added with host. It needs root
// and iproute2, as the other namespace tests do.
func newSiteNet(t testing.TB) *siteNet {
	t.Helper()
	requireTools(t, "ip")
	requireRoot(t)
	pid := os.Getpid()
	n := &siteNet{id: fmt.Sprintf("%d", pid%100000), prefix: fmt.Sprintf("198.18.%d.", pid%250)}
	n.bridge, n.gw = "dgs"+n.id, n.prefix+"1"
	t.Cleanup(func() { exec.Command("ip", "link", "del", n.bridge).Run() })
	ipRun(t, "link", "add", n.bridge, "type", "bridge")
	ipRun(t, "addr", "add", n.gw+"/24", "dev", n.bridge)
	ipRun(t, "link", "set", n.bridge, "up")
	return n
}

// host adds a host to the bridge.
func (n *siteNet) host(t testing.TB, name string) *nsHost {
	t.Helper()
	n.next++
	h := &nsHost{name: name, ns: fmt.Sprintf("dgs%s-%s", n.id, name), ip: fmt.Sprintf("%s%d", n.prefix, 10+n.next)}
	outer, inner := fmt.Sprintf("dgo%s%d", n.id, n.next), fmt.Sprintf("dgi%s%d", n.id, n.next)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", outer).Run()
		exec.Command("ip", "netns", "del", h.ns).Run()
	})
	ipRun(t, "netns", "add", h.ns)
	ipRun(t, "link", "add", outer, "type", "veth", "peer", "name", inner)
	ipRun(t, "link", "set", inner, "netns", h.ns)
	ipRun(t, "link", "set", outer, "master", n.bridge)
	ipRun(t, "link", "set", outer, "up")
	ipRun(t, "netns", "exec", h.ns, "ip", "addr", "add", h.ip+"/24", "dev", inner)
	ipRun(t, "netns", "exec", h.ns, "ip", "link", "set", inner, "up")
	ipRun(t, "netns", "exec", h.ns, "ip", "link", "set", "lo", "up")
	return h
}

// start runs a command on the host, killed with the test.
func (h *nsHost) start(t testing.TB, env []string, name string, args ...string) *proc {
	t.Helper()
	return startProc(t, env, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// siteGW is an agent or an edge run as a process on its host.
type siteGW struct {
	host   *nsHost
	site   string
	role   string
	dir    string
	config string
	proc   *proc
}

// writeGW writes a gateway's configuration: the common part, then body.
func writeGW(t testing.TB, h *nsHost, site, role, member string, etcd *etcdCluster, body string) *siteGW {
	t.Helper()
	g := &siteGW{host: h, site: site, role: role, dir: t.TempDir()}
	g.config = filepath.Join(g.dir, "distgate.yaml")
	os.MkdirAll(filepath.Join(g.dir, "data"), 0o700)
	var b strings.Builder
	fmt.Fprintf(&b, "site: %s\nrole: %s\ndata_dir: %s\n", site, role, filepath.Join(g.dir, "data"))
	fmt.Fprintf(&b, "admin: {listen: \"unix:%s\"}\n", filepath.Join(g.dir, "admin.sock"))
	fmt.Fprintf(&b, "cluster:\n  endpoints: [%s]\n  lease_ttl: %s\n  member: %s\n  address: %s\n", strings.Join(etcd.endpoints(), ", "), siteLeaseTTL, member, h.ip)
	b.WriteString(body)
	writeFile(t, g.config, b.String())
	return g
}

// identity returns the gateway's identity, making it on first use.
func (g *siteGW) identity(t testing.TB) string {
	t.Helper()
	out, errOut, code := runCmd(t, nil, distgateBin(t), "id", "-data", filepath.Join(g.dir, "data"))
	if code != 0 {
		t.Fatalf("distgate id: %s", errOut)
	}
	return strings.TrimSpace(out)
}

// shareIdentity gives g the identity of from: the edges of a site share
// the identity their peers pin.
func (g *siteGW) shareIdentity(t testing.TB, from *siteGW) {
	t.Helper()
	from.identity(t)
	for _, f := range []string{"identity.key", "identity.crt"} {
		b, err := os.ReadFile(filepath.Join(from.dir, "data", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(g.dir, "data", f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// run starts the gateway on its host and waits for its admin socket.
func (g *siteGW) run(t testing.TB) {
	t.Helper()
	g.proc = g.host.start(t, nil, distgateBin(t), "run", "-config", g.config)
	sock := filepath.Join(g.dir, "admin.sock")
	waitUntil(t, g.host.name+"'s admin socket", 30, func() bool {
		if g.proc.exited(0) {
			t.Fatalf("%s exited: %v\n%s", g.host.name, g.proc.err, g.proc.out)
		}
		_, err := os.Stat(sock)
		return err == nil
	})
}

// stop ends the gateway with SIGTERM (a clean stop) or SIGKILL.
func (g *siteGW) stop(sig syscall.Signal) {
	g.proc.cmd.Process.Signal(sig)
	g.proc.exited(15 * time.Second)
}

// cli runs a distgate command against the gateway's admin API.
func (g *siteGW) cli(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, code := runCmd(t, nil, distgateBin(t), append(args, "-config", g.config)...)
	if code != 0 {
		t.Fatalf("distgate %s on %s: %s%s", strings.Join(args, " "), g.host.name, out, errOut)
	}
	return out
}

// siteNode is a long-running Erlang node on a host, registered with its
// agent.
type siteNode struct {
	*proc
	name string // full name
	w    *lineWaiter
}

// siteNodeArgs are erl's arguments for a node name@host of a site, with
// distgate_epmd and the agent's EPMD on the host's 127.0.0.1:4369.
func siteNodeArgs(t testing.TB, full string, extra ...string) []string {
	args := []string{"-name", full, "-setcookie", cookie, "-noshell", "-noinput", "-start_epmd", "false"}
	args = append(args, withModule(t)...)
	return append(args, extra...)
}

// startSiteScript starts a node on a host that evaluates expr, whose
// output lines the test waits for.
func startSiteScript(t testing.TB, h *nsHost, full, expr string) *siteNode {
	t.Helper()
	requireTools(t, "erl")
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns, "erl"}, siteNodeArgs(t, full, "-eval", expr)...)...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT=4369")
	p, w := startLines(t, cmd)
	return &siteNode{proc: p, name: full, w: w}
}

// evalOn runs a short-lived node name@host on h that evaluates expr and
// returns what it printed.
func evalOn(t testing.TB, h *nsHost, full, expr string) (string, error) {
	t.Helper()
	requireTools(t, "erl")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	wrapped := fmt.Sprintf(`try R = begin %s end, io:format("~p~n", [R]), halt(0) catch C:E:S -> io:format("CRASH ~p:~p ~p~n", [C, E, S]), halt(3) end.`, expr)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, "erl"}, siteNodeArgs(t, full, "-eval", wrapped)...)...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT=4369")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mustEval is evalOn that fails the test on a crash.
func mustEval(t testing.TB, h *nsHost, full, expr string) string {
	t.Helper()
	out, err := evalOn(t, h, full, expr)
	if err != nil {
		t.Fatalf("erl %s on %s: %v\n%s", full, h.name, err, out)
	}
	return out
}

// lastLine is the last line of a node's output: its value.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
