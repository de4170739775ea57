package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/distgate/distgate/epmd"
)

var erlcOnce struct {
	sync.Once
	dir string
	err error
}

// distgateEpmdSrc is the distgate_epmd application in the repository.
func distgateEpmdSrc() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "erlang", "distgate_epmd")
}

// distgateEpmdEbin compiles the distgate_epmd application once, with
// warnings as errors, as `erlc` users do (rebar3 and mix builds have their
// own tests), and returns its ebin directory, .app file included.
func distgateEpmdEbin(t testing.TB) string {
	t.Helper()
	requireTools(t, "erlc")
	erlcOnce.Do(func() {
		src := filepath.Join(distgateEpmdSrc(), "src")
		dir := filepath.Join(binDir, "distgate_epmd", "ebin")
		erlcOnce.dir = dir
		mods, _ := filepath.Glob(filepath.Join(src, "*.erl"))
		if err := os.MkdirAll(dir, 0o755); err != nil || len(mods) == 0 {
			erlcOnce.err = fmt.Errorf("no modules in %s (%v)", src, err)
			return
		}
		out, err := exec.Command("erlc", append([]string{"-Wall", "-Werror", "-o", dir}, mods...)...).CombinedOutput()
		if err != nil {
			erlcOnce.err = fmt.Errorf("erlc: %v\n%s", err, out)
			return
		}
		app, err := os.ReadFile(filepath.Join(src, "distgate_epmd.app.src"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "distgate_epmd.app"), app, 0o644)
		}
		erlcOnce.err = err
	})
	if erlcOnce.err != nil {
		t.Fatal(erlcOnce.err)
	}
	return erlcOnce.dir
}

// withModule returns erl arguments that load distgate_epmd.
func withModule(t testing.TB, extra ...string) []string {
	return append([]string{"-pa", distgateEpmdEbin(t), "-epmd_module", "distgate_epmd"}, extra...)
}

// peerAddressExpr is an Erlang expression: ping Node, then return the
// remote port of the distribution connection to it.
func peerAddressExpr(node string) string {
	return fmt.Sprintf(`
		pong = net_adm:ping('%[1]s'),
		'%[1]s' = rpc:call('%[1]s', erlang, node, []),
		{ok, Info} = net_kernel:node_info('%[1]s'),
		{address, {net_address, {_IP, Port}, _, _, _}} = lists:keyfind(address, 1, Info),
		Port`, node)
}

// TestMultiTransportNode: a node started with -proto_dist inet_tcp
// inet_tls and distgate_epmd registers both transports; a TLS-only peer
// reaches it over TLS, a stock TCP-only peer over TCP.
func TestMultiTransportNode(t *testing.T) {
	t.Parallel()
	tls := makeTLSFiles(t)
	port, _ := startDistgateEpmd(t)
	dual := startNode(t, port, "dual", withModule(t, "-proto_dist", "inet_tcp", "inet_tls", "-ssl_dist_optfile", tls.DistConf)...)

	// Both transports, in -proto_dist order, on one registration.
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	var tcpPort, tlsPort uint16
	waitFor(t, "both transports of dual", func() bool {
		nodes, err := c.NamesX(context.Background())
		if err != nil || len(nodes) != 1 || len(nodes[0].Transports) != 2 {
			return false
		}
		tr := nodes[0].Transports
		tcpPort, tlsPort = tr[0].Port, tr[1].Port
		return nodes[0].Name == "dual" && tr[0].Proto == "inet_tcp" && tr[1].Proto == "inet_tls"
	})
	if out, _, _ := runCmd(t, nil, distgateBin(t), "names", "-port", strconv.Itoa(port)); !strings.Contains(out, "inet_tcp:"+strconv.Itoa(int(tcpPort))) || !strings.Contains(out, "inet_tls:"+strconv.Itoa(int(tlsPort))) {
		t.Fatalf("distgate names:\n%s", out)
	}
	// Classic clients see the TCP port.
	if p, err := c.PortPlease(context.Background(), "dual"); err != nil || p == nil || p.Port != tcpPort {
		t.Fatalf("PORT_PLEASE2 dual = %+v, %v; want port %d", p, err, tcpPort)
	}

	got := evalErl(t, port, "tlsonly", peerAddressExpr(dual.name), withModule(t, "-proto_dist", "inet_tls", "-ssl_dist_optfile", tls.DistConf)...)
	if got != strconv.Itoa(int(tlsPort)) {
		t.Fatalf("TLS-only peer reached dual on port %s, want the TLS port %d", got, tlsPort)
	}
	got = evalErl(t, port, "tcponly", peerAddressExpr(dual.name))
	if got != strconv.Itoa(int(tcpPort)) {
		t.Fatalf("stock TCP peer reached dual on port %s, want the TCP port %d", got, tcpPort)
	}
}

// TestDistgateEpmdFallsBackToStockEpmd: against OTP's epmd, distgate_epmd
// registers the classic way and both stock and distgate_epmd peers reach
// the node.
func TestDistgateEpmdFallsBackToStockEpmd(t *testing.T) {
	t.Parallel()
	port, _ := startStockEpmd(t)
	n := startNode(t, port, "fallback", withModule(t)...)
	if out, _, code := runCmd(t, []string{"ERL_EPMD_PORT=" + strconv.Itoa(port)}, "epmd", "-names"); code != 0 || !strings.Contains(out, "name fallback at port") {
		t.Fatalf("stock epmd -names: %d\n%s", code, out)
	}
	expr := fmt.Sprintf(`{net_adm:ping('%[1]s'), rpc:call('%[1]s', erlang, node, [])}`, n.name)
	want := fmt.Sprintf("{pong,%s}", n.name)
	if got := evalErl(t, port, "stockpeer", expr); got != want {
		t.Fatalf("stock peer: %s, want %s", got, want)
	}
	if got := evalErl(t, port, "modpeer", expr, withModule(t)...); got != want {
		t.Fatalf("distgate_epmd peer: %s, want %s", got, want)
	}
}

// TestFullNameLookupThroughDistgate: a distgate_epmd node finds a stock
// node through LOOKUP_X, and an unknown node fails fast and cleanly.
func TestFullNameLookupThroughDistgate(t *testing.T) {
	t.Parallel()
	port, _ := startDistgateEpmd(t)
	n := startNode(t, port, "target")
	expr := fmt.Sprintf(`{net_adm:ping('%[1]s'), net_adm:ping('nobody@%[2]s'), distgate_epmd:address_please("target", "%[2]s", inet)}`, n.name, shortHost())
	got := evalErl(t, port, "asker", expr, withModule(t)...)
	if !strings.HasPrefix(got, "{pong,pang,{ok,{127,0,0,1},") || !strings.HasSuffix(got, ",6}}") {
		t.Fatalf("asker printed %s", got)
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitUntil(t, what, 20, cond)
}

// TestDistgateEpmdAppEnv: the application environment configures a plain
// `erl -pa` node too (the module loads its application): a sys.config
// gives the EPMD port and registers the TLS listener only, and
// `-distgate_epmd accept '[inet_tls]'` makes a TCP+TLS node dial TLS where
// it would dial TCP.
func TestDistgateEpmdAppEnv(t *testing.T) {
	t.Parallel()
	tls := makeTLSFiles(t)
	port, _ := startDistgateEpmd(t)
	sysConfig := filepath.Join(t.TempDir(), "sys.config")
	writeFile(t, sysConfig, fmt.Sprintf("[{distgate_epmd, [{epmd_port, %d}, {register, [inet_tls]}]}].\n", port))
	requireTools(t, "erl")
	args := append(nodeArgs("tlsreg", withModule(t, "-proto_dist", "inet_tcp", "inet_tls", "-ssl_dist_optfile", tls.DistConf)...), "-config", sysConfig)
	p := startWithEnv(t, cleanEnv(), "erl", args...)
	waitTransports(t, port, "tlsreg", p, "inet_tls")

	dual := startNode(t, port, "dual", withModule(t, "-proto_dist", "inet_tcp", "inet_tls", "-ssl_dist_optfile", tls.DistConf)...)
	ports := waitTransports(t, port, "dual", dual.proc, "inet_tcp", "inet_tls")
	for _, tc := range []struct {
		name  string
		extra []string
		want  uint16
	}{
		{"default", nil, ports[0]},
		{"accept", []string{"-distgate_epmd", "accept", "[inet_tls]"}, ports[1]},
	} {
		extra := withModule(t, append([]string{"-proto_dist", "inet_tcp", "inet_tls", "-ssl_dist_optfile", tls.DistConf}, tc.extra...)...)
		if got := evalErl(t, port, "caller_"+tc.name, peerAddressExpr(dual.name), extra...); got != strconv.Itoa(int(tc.want)) {
			t.Errorf("%s: reached dual on port %s, want %d", tc.name, got, tc.want)
		}
	}
	// The TLS listener that alone was registered serves a TLS peer.
	tlsreg := "tlsreg@" + shortHost()
	if got := evalErl(t, port, "tlspeer", fmt.Sprintf(`net_adm:ping('%s')`, tlsreg), withModule(t, "-proto_dist", "inet_tls", "-ssl_dist_optfile", tls.DistConf)...); got != "pong" {
		t.Errorf("TLS peer of tlsreg: %s", got)
	}
}
