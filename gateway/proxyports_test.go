package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/distgate/distgate/epmd"
)

// TestProxyPortsFlood: a local process that looks up thousands of
// invented remote names (this test, whose user holds no registration at
// site A) holds at most MaxProxyPortsPerCaller proxy ports, its oldest
// evicted for its newest, and never takes the port of a node that is
// connected through one; a real lookup after the flood gets its port. Once
// the same user registers a node, it is bounded as a user of nodes.
func TestProxyPortsFlood(t *testing.T) {
	a, b := twoSites(t, "quic")
	startFakeNode(t, b, "y")
	// A connected relay: its port is in use.
	c, _, err := dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !reached(t, c) {
		t.Fatal("the first relay did not reach y")
	}
	yPort := portOf(t, a, "y@n1.site-b.example")
	cl := a.epmdClient()
	ctx := context.Background()
	lookup := func(node string) error {
		_, err := cl.Lookup(ctx, epmd.LookupRequest{Node: node, Accept: []string{"inet_tcp"}})
		return err
	}
	for i := range MaxProxyPorts {
		if err := lookup(fmt.Sprintf("invented%d@n1.site-b.example", i)); err != nil {
			t.Fatalf("lookup %d of an invented name: %v", i, err)
		}
	}
	if n := len(a.gw.proxies.Status()); n > MaxProxyPortsPerCaller+1 {
		t.Fatalf("%d proxy ports open after the flood, want at most %d and y's", n, MaxProxyPortsPerCaller)
	}
	if got := portOf(t, a, "y@n1.site-b.example"); got != yPort {
		t.Fatalf("y's connected proxy port changed from %d to %d", yPort, got)
	}
	c2, _, err := dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
	if err != nil {
		t.Fatalf("a real lookup after the flood: %v", err)
	}
	defer c2.Close()
	if !reached(t, c2) {
		t.Fatal("the relay after the flood did not reach y")
	}
	// A user of registered nodes has the larger bound.
	startFakeNode(t, a, "x")
	for i := range MaxProxyPortsPerCaller + 10 {
		if err := lookup(fmt.Sprintf("more%d@n1.site-b.example", i)); err != nil {
			t.Fatalf("lookup %d by a user of nodes: %v", i, err)
		}
	}
	if n := len(a.gw.proxies.Status()); n <= MaxProxyPortsPerCaller+1 {
		t.Fatalf("%d proxy ports open for a user of nodes, want more than %d", n, MaxProxyPortsPerCaller+1)
	}
}

// portOf returns the proxy port open for target at site s.
func portOf(t testing.TB, s *site, target string) int {
	t.Helper()
	for _, p := range s.gw.proxies.Status() {
		if p.Target == target {
			return p.Port
		}
	}
	t.Fatalf("no proxy port for %s", target)
	return 0
}
