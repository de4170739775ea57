package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEpmdKillLeavesGatewayRunning: the stock `epmd -kill`, which any
// local user may run, does not stop `distgate run` even with no node
// registered: the gateway refuses it as epmd refuses a KILL with live
// nodes, says so in its log, and its EPMD and admin API keep answering.
func TestEpmdKillLeavesGatewayRunning(t *testing.T) {
	t.Parallel()
	requireTools(t, "epmd")
	dir := t.TempDir()
	file, admin, epmdPort := bareConfig(t, dir, "data")
	port := strconv.Itoa(epmdPort)
	p := startProc(t, nil, distgateBin(t), "run", "-config", file)
	waitListening(t, admin, p)
	env := []string{"ERL_EPMD_PORT=" + port}
	out, _, code := runCmd(t, env, "epmd", "-kill")
	if code != 1 || !strings.Contains(out, "Killing not allowed") {
		t.Errorf("epmd -kill: exit %d %q; want the refusal (exit 1)", code, out)
	}
	if p.exited(time.Second) {
		t.Fatalf("the gateway stopped on epmd -kill: %v\n%s", p.err, p.out)
	}
	if out, _, code := runCmd(t, env, "epmd", "-names"); code != 0 || !strings.Contains(out, "epmd: up and running on port "+port) {
		t.Fatalf("epmd -names after the refused kill: exit %d %q", code, out)
	}
	waitListening(t, admin, p)
	waitUntil(t, "the gateway to log the refused KILL", 5, func() bool { return strings.Contains(p.out.String(), "KILL refused") })
}

// TestEpmdKillKeepsRelays: on a gateway in relaxed mode (epmd.relaxed,
// which lets `epmd -stop` through) with a node relayed to another site,
// `epmd -kill` leaves the link and the relayed connection working.
func TestEpmdKillKeepsRelays(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl", "epmd")
	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	a.writeConfig(t, "tls", 3*time.Second, b)
	b.writeConfig(t, "tls", 3*time.Second, a)
	writeFile(t, a.config, strings.Replace(readFile(t, a.config), "  hosts: [", "  relaxed: true\n  hosts: [", 1))
	a.start(t)
	b.start(t)
	y := startSiteNode(t, b, "y")
	expr := fmt.Sprintf(`
		Y = '%[1]s',
		pong = net_adm:ping(Y),
		monitor_node(Y, true),
		io:format("UP~n"),
		Loop = fun L(N) ->
			receive {nodedown, Y} -> io:format("DOWN~n"), halt(1)
			after 200 -> io:format("PING ~p ~p~n", [N, rpc:call(Y, erlang, node, [], 2000)]), L(N + 1)
			end
		end,
		Loop(0).`, y.name)
	p, w := startScriptNode(t, a, "x", expr)
	w.waitLine(t, "UP", 30*time.Second, p)
	out, _, code := runCmd(t, []string{"ERL_EPMD_PORT=" + strconv.Itoa(a.epmdPort)}, "epmd", "-kill")
	if code != 1 || !strings.Contains(out, "Killing not allowed") {
		t.Errorf("epmd -kill: exit %d %q; want the refusal (exit 1)", code, out)
	}
	// Two seconds of calls over the relay after the kill, all answered.
	for range 10 {
		line := w.waitLine(t, "", 10*time.Second, p)
		if !strings.HasPrefix(line, "PING ") || !strings.HasSuffix(line, " '"+y.name+"'") {
			t.Fatalf("after epmd -kill, x printed %q\nsite A:\n%s", line, a.proc.out)
		}
	}
	if a.proc.exited(0) {
		t.Fatalf("site A's gateway stopped: %v\n%s", a.proc.err, a.proc.out)
	}
	if st := a.status(t); !strings.Contains(st, "site-b  tls") {
		t.Fatalf("status of site A shows no tls link to site-b after epmd -kill:\n%s", st)
	}
}
