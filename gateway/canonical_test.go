package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
)

// denyNode is a Router that refuses to let anyone reach or see one node,
// by its full name, asks inner everything else, and records the nodes it
// was asked about.
type denyNode struct {
	node  string
	inner Router

	mu    sync.Mutex
	asked []string
}

func (d *denyNode) Lookup(ctx context.Context, req *abi.LookupRequest) abi.Route {
	return d.inner.Lookup(ctx, req)
}

func (d *denyNode) Authorize(ctx context.Context, via Via, req *abi.AuthorizeRequest) abi.Decision {
	d.mu.Lock()
	d.asked = append(d.asked, req.Node)
	d.mu.Unlock()
	if req.Node == d.node {
		return abi.Refuse(d.node + " is off limits")
	}
	return d.inner.Authorize(ctx, via, req)
}

func (d *denyNode) nodes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.asked)
}

// reached reports whether a relayed connection reached the echoing node:
// a byte sent comes back, where a refused caller's connection is closed.
func reached(t testing.TB, c interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}) bool {
	t.Helper()
	if _, err := c.Write([]byte{'x'}); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the relay neither echoed nor closed")
	}
	return err == nil
}

// TestLinkTargetsAreCanonical: a peer that asks for a node of this site
// by another name of its host (localhost, 127.0.0.1, another case) is
// decided on the node's one name, so a policy that keeps callers from
// admin@n1.site-b.example cannot be bypassed with admin@localhost; a host
// this site does not serve is not found.
func TestLinkTargetsAreCanonical(t *testing.T) {
	a, b := prepareSite(t, "site-a"), prepareSite(t, "site-b")
	a.cfg.Peers, b.cfg.Peers = []PeerConfig{b.peerOf()}, []PeerConfig{a.peerOf()}
	// Site A's routes send these aliases of site B's host to site B, as a
	// catch-all route or a policy could.
	for _, m := range []string{"*@*.site-b.example", "*@localhost", "*@127.0.0.1", "*@N1.SITE-B.EXAMPLE", "*@elsewhere.example"} {
		a.cfg.Routes = append(a.cfg.Routes, RouteConfig{Match: m, Site: "site-b", Transport: "quic"})
	}
	a.start(t)
	b.start(t)
	deny := &denyNode{node: "admin@" + b.hostname, inner: b.gw.policies}
	b.gw.SetRouter(deny)
	startFakeNode(t, a, "x")
	startFakeNode(t, b, "admin")
	startFakeNode(t, b, "y")
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"y@n1.site-b.example", true},
		{"y@localhost", true},
		{"admin@n1.site-b.example", false},
		{"admin@localhost", false},
		{"admin@127.0.0.1", false},
		{"admin@N1.SITE-B.EXAMPLE", false},
		{"admin@elsewhere.example", false},
	} {
		c, _, err := dialRemote(t, a, tc.target, "x@"+a.hostname)
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		if got := reached(t, c); got != tc.ok {
			t.Errorf("%s: reached %v, want %v", tc.target, got, tc.ok)
		}
		c.Close()
	}
	for _, n := range deny.nodes() {
		if n != "y@"+b.hostname && n != "admin@"+b.hostname {
			t.Errorf("site B's policy was asked about %q, not a canonical name", n)
		}
	}
}

// TestTLSTargetsAreCanonical: a TLS caller's target is the node of the
// port under its one name, whatever name of this host its server name
// (SNI) gives, or a name the gateway has a certificate for; a server name
// this gateway does not serve is refused.
func TestTLSTargetsAreCanonical(t *testing.T) {
	s := prepareSite(t, "edge")
	s.cfg.Public = PublicConfig{Address: "127.0.0.1", Export: []string{"*"}}
	s.cfg.Links.Off, s.cfg.Links.QUIC, s.cfg.Links.TLS = true, "", ""
	s.cfg.Links.Names = []string{"Public.Example"}
	s.start(t)
	deny := &denyNode{node: "admin@" + s.hostname, inner: s.gw.policies}
	s.gw.SetRouter(deny)
	nodes := map[string]*fakeNode{"admin": startFakeNode(t, s, "admin"), "y": startFakeNode(t, s, "y")}
	for _, tc := range []struct {
		node, sni string
		ok        bool
	}{
		{"y", s.hostname, true},
		{"y", "localhost", true},
		{"y", "evil.example", false},
		{"y", "public.example", true},
		{"admin", "public.example", false},
		{"admin", s.hostname, false},
		{"admin", "localhost", false},
		{"admin", "N1.EDGE.EXAMPLE", false},
		{"admin", "", false},
		{"admin", "evil.example", false},
	} {
		port, err := s.gw.term.Port(tc.node)
		if err != nil {
			t.Fatal(err)
		}
		if got := callTLSPort(t, port, tc.sni, tls.Certificate{}, nodes[tc.node]); got != tc.ok {
			t.Errorf("%s with server name %q: reached %v, want %v", tc.node, tc.sni, got, tc.ok)
		}
	}
	for _, n := range deny.nodes() {
		if n != "y@"+s.hostname && n != "admin@"+s.hostname {
			t.Errorf("the policy was asked about %q, not a canonical name", n)
		}
	}
}

// TestRemoteTargetsAreCanonical: a remote lookup is decided on the node's
// one name too.
func TestRemoteTargetsAreCanonical(t *testing.T) {
	s := prepareSite(t, "edge")
	s.cfg.Links.Off, s.cfg.Links.QUIC, s.cfg.Links.TLS = true, "", ""
	s.cfg.Remote = RemoteConfig{Allow: []RemoteRule{{Identity: "ops", Nodes: []string{"*"}, List: true}}}
	s.start(t)
	deny := &denyNode{node: "admin@" + s.hostname, inner: s.gw.policies}
	s.gw.SetRouter(deny)
	startFakeNode(t, s, "admin")
	ops := asker{via: ViaRemote, identity: "ops"}
	for _, node := range []string{"admin@localhost", "admin@N1.EDGE.EXAMPLE", "admin"} {
		// reply = code, version, status, ...
		if reply := s.gw.queries.remoteLookup(context.Background(), ops, epmd.LookupRequest{Node: node}); len(reply) < 3 || epmd.Status(reply[2]) != epmd.StatusDenied {
			t.Errorf("lookup of %s: reply %x, want a denial", node, reply)
		}
	}
	for _, n := range deny.nodes() {
		if n != "admin@"+s.hostname {
			t.Errorf("the policy was asked about %q, not a canonical name", n)
		}
	}
}
