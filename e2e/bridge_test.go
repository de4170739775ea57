package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bridgeExpr is what a caller node on site A does with a node Y on site B:
// ping, rpc, a 50 MB binary checked by both ends, a link and a monitor,
// and finally Y halts: the monitor and the nodedown must fire.
func bridgeExpr(y string, mb int) string {
	return fmt.Sprintf(`
		Y = '%[1]s',
		pong = net_adm:ping(Y),
		Y = rpc:call(Y, erlang, node, []),
		Bin = crypto:strong_rand_bytes(%[2]d * 1024 * 1024),
		Sum = erlang:md5(Bin),
		Sum = rpc:call(Y, erlang, md5, [Bin], 120000),
		Back = rpc:call(Y, erlang, binary_part, [Bin, 0, 1024 * 1024], 120000),
		Back = binary_part(Bin, 0, 1024 * 1024),
		%% global, across the sites: a name registered on Y is seen here.
		Named = spawn(Y, timer, sleep, [infinity]),
		yes = rpc:call(Y, global, register_name, [distgate_bridge_test, Named]),
		ok = global:sync(),
		Named = global:whereis_name(distgate_bridge_test),
		Linked = spawn(Y, timer, sleep, [infinity]),
		Monitored = spawn(Y, timer, sleep, [infinity]),
		process_flag(trap_exit, true),
		link(Linked),
		Ref = monitor(process, Monitored),
		monitor_node(Y, true),
		rpc:cast(Y, erlang, halt, []),
		receive {'DOWN', Ref, process, Monitored, noconnection} -> ok after 20000 -> exit(no_down) end,
		receive {'EXIT', Linked, noconnection} -> ok after 20000 -> exit(no_exit) end,
		receive {nodedown, Y} -> ok after 20000 -> exit(no_nodedown) end,
		{ok, byte_size(Bin)}`, y, mb)
}

// TestBridge runs real nodes on two sites through two gateways, over QUIC
// and over TLS.
func TestBridge(t *testing.T) {
	for _, transport := range []string{"quic", "tls"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			a, b := bridgePair(t, transport, 3*time.Second)
			y := startSiteNode(t, b, "y")
			out, err := evalAtWithin(t, bulkEvalTimeout, a, "x", bridgeExpr(y.name, 50))
			if err != nil || out != fmt.Sprintf("{ok,%d}", 50<<20) {
				t.Fatalf("x on site A: %v\n%s\nsite A log:\n%s\nsite B log:\n%s", err, out, a.proc.out, b.proc.out)
			}
			st := a.status(t)
			if !strings.Contains(st, "site-b  "+transport) {
				t.Fatalf("status of site A shows no %s link to site-b:\n%s", transport, st)
			}
		})
	}
}

// TestBridgeSeveralPairs runs two node pairs at once over one link, and
// both directions at once: nodes of site B call nodes of site A while
// those call B.
func TestBridgeSeveralPairs(t *testing.T) {
	t.Parallel()
	a, b := bridgePair(t, "quic", 5*time.Second)
	ya := startSiteNode(t, a, "ya")
	yb1 := startSiteNode(t, b, "yb1")
	yb2 := startSiteNode(t, b, "yb2")
	callExpr := func(target string) string {
		return fmt.Sprintf(`
			T = '%[1]s',
			pong = net_adm:ping(T),
			Bin = crypto:strong_rand_bytes(8 * 1024 * 1024),
			Sum = erlang:md5(Bin),
			Sum = rpc:call(T, erlang, md5, [Bin], 60000),
			ok`, target)
	}
	type call struct {
		from     *gatewaySite
		name, to string
	}
	calls := []call{{a, "x1", yb1.name}, {a, "x2", yb2.name}, {b, "xb", ya.name}}
	var wg sync.WaitGroup
	errs := make([]string, len(calls))
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := evalAt(t, c.from, c.name, callExpr(c.to))
			if err != nil || out != "ok" {
				errs[i] = fmt.Sprintf("%s -> %s: %v %s", c.name, c.to, err, out)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
	// The long-running nodes call each other too, both ways at once.
	out, err := evalAt(t, a, "driver", fmt.Sprintf(`
		A = '%[1]s', B1 = '%[2]s',
		pong = net_adm:ping(A),
		K1 = rpc:async_call(A, net_adm, ping, [B1]),
		K2 = rpc:async_call(B1, net_adm, ping, [A]),
		{rpc:yield(K1), rpc:yield(K2)}`, ya.name, yb1.name))
	if err != nil || out != "{pong,pong}" {
		t.Fatalf("both directions: %v %s", err, out)
	}
}

// TestBridgeRefusals: a node the routes deny and a node the peer does not
// have both fail fast (a pang well before the caller's setup time), and
// the gateways say why.
func TestBridgeRefusals(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	a.extra = "  - match: \"*@secret.site-b.example\"\n    deny: secret nodes are not reachable from site-a\n"
	// The deny route must come first: rewrite with it ahead of the others.
	a.writeConfig(t, "quic", 3*time.Second, b)
	b.writeConfig(t, "quic", 3*time.Second, a)
	reorderDenyFirst(t, a)
	a.start(t)
	b.start(t)
	expr := `
		T0 = erlang:monotonic_time(millisecond),
		P1 = net_adm:ping('vault@secret.site-b.example'),
		P2 = net_adm:ping('ghost@n1.site-b.example'),
		{P1, P2, erlang:monotonic_time(millisecond) - T0}`
	// A setup time of 30 s: a refusal must come long before it.
	out, err := evalAt(t, a, "x", expr, "-kernel", "net_setuptime", "30")
	if err != nil || !strings.HasPrefix(out, "{pang,pang,") {
		t.Fatalf("x: %v %s", err, out)
	}
	ms, _ := strconv.Atoi(strings.TrimSuffix(strings.Split(out, ",")[2], "}"))
	if ms >= 15000 {
		t.Fatalf("refusals took %d ms: the caller waited for its setup time instead of a refusal", ms)
	}
	waitUntil(t, "site A to log the denial", 5, func() bool { return strings.Contains(a.proc.out.String(), "secret nodes are not reachable") })
	waitUntil(t, "site B to log the unknown node", 5, func() bool { return strings.Contains(b.proc.out.String(), "no node ghost is registered") })
}

// reorderDenyFirst moves the extra (deny) route in front of the generated
// routes of a site's config.
func reorderDenyFirst(t testing.TB, s *gatewaySite) {
	t.Helper()
	b := readFile(t, s.config)
	i := strings.Index(b, "routes:\n")
	routes := b[i+len("routes:\n"):]
	extra := s.extra
	routes = strings.Replace(routes, extra, "", 1)
	writeFile(t, s.config, b[:i]+"routes:\n"+extra+routes)
}

// TestBridgePeerGatewayKilled: when the peer gateway dies, the nodes of
// site A see nodedown within the route's liveness timeout (3 s), not after
// net_ticktime (60 s); when it comes back, new connections work without
// restarting anything.
func TestBridgePeerGatewayKilled(t *testing.T) {
	t.Parallel()
	a, b := bridgePair(t, "quic", 3*time.Second)
	y := startSiteNode(t, b, "y")
	expr := fmt.Sprintf(`
		Y = '%[1]s',
		pong = net_adm:ping(Y),
		monitor_node(Y, true),
		io:format("UP~n"),
		T0 = erlang:monotonic_time(millisecond),
		receive {nodedown, Y} -> io:format("DOWN ~p~n", [erlang:monotonic_time(millisecond) - T0]) after 30000 -> io:format("NO NODEDOWN~n") end,
		Again = fun Again(0) -> pang; Again(N) -> case net_adm:ping(Y) of pong -> pong; pang -> timer:sleep(500), Again(N - 1) end end,
		io:format("AGAIN ~p~n", [Again(60)]),
		halt().`, y.name)
	p, w := startScriptNode(t, a, "x", expr)
	w.waitLine(t, "UP", 30*time.Second, p)
	killedAt := time.Now()
	b.proc.cmd.Process.Signal(syscall.SIGKILL)
	b.proc.exited(5 * time.Second)
	down := w.waitLine(t, "DOWN", 30*time.Second, p)
	ms, _ := strconv.Atoi(strings.TrimPrefix(down, "DOWN "))
	if ms > 3000+2000 {
		t.Fatalf("nodedown %d ms after the kill (liveness 3 s); log of site A:\n%s", ms, a.proc.out)
	}
	t.Logf("nodedown %d ms after the peer gateway was killed (%v wall)", ms, time.Since(killedAt).Round(time.Millisecond))
	b.start(t) // same ports, same data directory
	if again := w.waitLine(t, "AGAIN", 60*time.Second, p); again != "AGAIN pong" {
		t.Fatalf("after the restart: %s\nsite A:\n%s\nsite B:\n%s", again, a.proc.out, b.proc.out)
	}
}

// TestBridgeRouteTick: on a route with a tick, the gateway ticks the local
// node itself on a quiet connection. A caller with a short net_ticktime
// (4 s) keeps its connection to a remote node that is frozen (SIGSTOP, no
// ticks of its own) for three times that, because the link stays alive;
// on a route without a tick it would have seen nodedown.
func TestBridgeRouteTick(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	a.writeConfig(t, "quic", 10*time.Second, b)
	b.writeConfig(t, "quic", 10*time.Second, a)
	cfg := readFile(t, a.config)
	writeFile(t, a.config, strings.Replace(cfg, "    liveness: 10s\n", "    liveness: 10s\n    tick: 1s\n", 1))
	a.start(t)
	b.start(t)
	y := startSiteNode(t, b, "y")
	expr := fmt.Sprintf(`
		Y = '%[1]s',
		pong = net_adm:ping(Y),
		monitor_node(Y, true),
		io:format("UP~n"),
		receive {nodedown, Y} -> io:format("DOWN~n") after 12000 -> io:format("STILL ~p~n", [lists:member(Y, nodes(hidden) ++ nodes())]) end,
		halt().`, y.name)
	p, w := startScriptNode(t, a, "x", expr, "-kernel", "net_ticktime", "4")
	w.waitLine(t, "UP", 30*time.Second, p)
	y.cmd.Process.Signal(syscall.SIGSTOP)
	defer y.cmd.Process.Signal(syscall.SIGCONT)
	if got := w.waitLine(t, "", 30*time.Second, p); got != "STILL true" {
		t.Fatalf("with gateway ticks, x printed %q (net_ticktime 4 s, y frozen 12 s)", got)
	}
}
