package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway"
)

// TestTLSLinkLostTellsWhy: over TLS links, the gateways log the link up
// and count its bytes; when the peer gateway dies under a relayed
// connection, site A logs the link down, the relay ends as "link lost"
// (an end without a TLS close is not a clean close), and `distgate
// events` and `distgate why` say so.
func TestTLSLinkLostTellsWhy(t *testing.T) {
	t.Parallel()
	a, b := bridgePair(t, "tls", 3*time.Second)
	y := startSiteNode(t, b, "y")
	x, w := startScriptNode(t, a, "x", fmt.Sprintf(`
		Y = '%s',
		pong = net_adm:ping(Y),
		Bin = crypto:strong_rand_bytes(4 * 1024 * 1024),
		Sum = erlang:md5(Bin),
		Sum = rpc:call(Y, erlang, md5, [Bin], 60000),
		monitor_node(Y, true),
		io:format("UP~n"),
		receive {nodedown, Y} -> io:format("DOWN~n") after 30000 -> io:format("NO NODEDOWN~n") end,
		receive after 60000 -> ok end.`, y.name))
	w.waitLine(t, "UP", 60*time.Second, x)
	waitUntil(t, "site A to log the TLS link up", 5, func() bool {
		return strings.Contains(a.proc.out.String(), `msg="link up" peer=site-b transport=tls`)
	})
	var st gateway.Status
	out, errOut, code := runCmd(t, nil, distgateBin(t), "status", "-json", "-config", a.config)
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status -json: exit %d\n%s%s", code, out, errOut)
	}
	if st.Schema != gateway.StatusSchema {
		t.Fatalf("status schema %d", st.Schema)
	}
	var tlsOut uint64
	for _, l := range st.Links {
		if l.Peer == "site-b" && l.Transport.String() == "tls" {
			tlsOut += l.BytesOut
		}
	}
	if tlsOut < 4<<20 {
		t.Fatalf("the TLS link's status row shows %d bytes out after 4 MiB crossed it:\n%s", tlsOut, out)
	}
	b.proc.cmd.Process.Signal(syscall.SIGKILL)
	b.proc.exited(5 * time.Second)
	if got := w.waitLine(t, "", 20*time.Second, x); got != "DOWN" {
		t.Fatalf("x after its peer gateway died: %q", got)
	}
	defer func() {
		if t.Failed() {
			t.Logf("site A:\n%s", a.proc.out)
		}
	}()
	waitUntil(t, "site A to log the TLS link down", 10, func() bool {
		return strings.Contains(a.proc.out.String(), `msg="link down" peer=site-b transport=tls`)
	})
	events, errOut, code := runCmd(t, nil, distgateBin(t), "events", "-node", "y", "-config", a.config)
	if code != 0 || !strings.Contains(events, "established") || !strings.Contains(events, "ended") || !strings.Contains(events, "link lost") {
		t.Fatalf("distgate events -node y: exit %d\n%s%s\nsite A:\n%s", code, events, errOut, a.proc.out)
	}
	why, errOut, code := runCmd(t, nil, distgateBin(t), "why", y.name, "-config", a.config)
	if code != 0 || !strings.Contains(why, "=> the connection x@"+a.host+" -> "+y.name+" ended") ||
		!strings.Contains(why, "the link to site-b (tls) was lost") || !strings.Contains(why, "registered here: no") {
		t.Fatalf("distgate why: exit %d\n%s%s", code, why, errOut)
	}
	t.Logf("distgate why %s:\n%s", y.name, why)
}
