package directory

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"

	"github.com/distgate/distgate/epmd"
)

func put(t *testing.T, key string, v any, lease int64) Event {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return Event{Key: key, Value: b, Lease: lease}
}

var (
	a1   = Member{ID: "a1", Role: RoleAgent, Host: "a1.example", Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.11")}, Identity: "dg1:aa"}
	a2   = Member{ID: "a2", Role: RoleAgent, Host: "a2.example", Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.12")}, Identity: "dg1:bb"}
	e1   = Member{ID: "e1", Role: RoleEdge, Host: "e1", Identity: "dg1:site", Load: 3}
	e2   = Member{ID: "e2", Role: RoleEdge, Host: "e2", Identity: "dg1:site", Load: 1}
	tcp1 = epmd.Transport{Proto: "inet_tcp", Port: 4000, Family: epmd.FamilyInet}
)

func TestStateNodes(t *testing.T) {
	s := NewState()
	s.Apply(put(t, "d/members/a1", a1, 1))
	s.Apply(put(t, "d/members/a2", a2, 2))
	good := Node{Name: "x", Host: "a1.example", Member: "a1", Addr: a1.Addrs[0], Creation: 5, Transports: []epmd.Transport{tcp1}}
	s.Apply(put(t, "d/nodes/x", good, 1))
	n, ok := s.Lookup("x", "A1.example")
	if !ok || n.FullName() != "x@a1.example" {
		t.Fatalf("Lookup(x, A1.example) = %+v, %v", n, ok)
	}
	if _, ok := s.Lookup("x", "a2.example"); ok {
		t.Fatal("x found on the wrong host")
	}
	eps := n.Endpoints([]string{"inet_tcp"})
	if len(eps) != 1 || eps[0].Addr != a1.Addrs[0] || eps[0].Port != 4000 {
		t.Fatalf("endpoints %+v", eps)
	}
	// An agent cannot publish a node in another agent's name (its lease
	// is not that member's), nor at an address that is not its member's.
	forged := good
	forged.Name = "y"
	s.Apply(put(t, "d/nodes/y", forged, 2))
	if _, ok := s.Node("y"); ok {
		t.Fatal("a node under another member's lease is believed")
	}
	moved := good
	moved.Name, moved.Addr = "z", netip.MustParseAddr("10.0.0.1")
	s.Apply(put(t, "d/nodes/z", moved, 1))
	if _, ok := s.Node("z"); ok {
		t.Fatal("a node at an address its member does not have is believed")
	}
	// Nor with a transport at such an address (edges would dial it).
	elsewhere := good
	elsewhere.Name = "v"
	elsewhere.Transports = []epmd.Transport{tcp1}
	elsewhere.Transports[0].Addr = netip.MustParseAddr("10.0.0.1")
	s.Apply(put(t, "d/nodes/v", elsewhere, 1))
	if _, ok := s.Node("v"); ok {
		t.Fatal("a node with a transport at an address its member does not have is believed")
	}
	// A record whose name is not its key's is refused.
	s.Apply(put(t, "d/nodes/w", good, 1))
	if _, ok := s.Node("w"); ok || s.Rejected != 1 {
		t.Fatalf("a misnamed record: found %v, rejected %d", ok, s.Rejected)
	}
	// The member's record gone (its lease ended), its nodes are gone too.
	s.Apply(Event{Delete: true, Key: "d/members/a1"})
	if _, ok := s.Node("x"); ok {
		t.Fatal("a node of a dead member is believed")
	}
	if got := len(s.Nodes()); got != 0 {
		t.Fatalf("Nodes() has %d", got)
	}
}

func TestStateEdgesAndIdentities(t *testing.T) {
	s := NewState()
	for i, m := range []Member{a1, e1, e2} {
		s.Apply(put(t, "d/members/"+m.ID, m, int64(i+1)))
	}
	edges := s.Edges()
	if len(edges) != 2 || edges[0].ID != "e2" || edges[1].ID != "e1" {
		t.Fatalf("edges, least loaded first: %+v", edges)
	}
	if r, ok := s.HasIdentity("dg1:site"); !ok || r != RoleEdge {
		t.Fatalf("site identity: %v %v", r, ok)
	}
	if r, ok := s.HasIdentity("dg1:aa"); !ok || r != RoleAgent {
		t.Fatalf("agent identity: %v %v", r, ok)
	}
	if _, ok := s.HasIdentity("dg1:zz"); ok {
		t.Fatal("an unknown identity is a member")
	}
	if !s.HasHost("A1.EXAMPLE") || s.HasHost("e1") {
		t.Fatal("HasHost: agents' hosts only")
	}
}

func TestStatePolicies(t *testing.T) {
	s := NewState()
	p, ok := s.Apply(put(t, "d/policies/lookup", PolicyState{Name: "lookup", SHA256: "aa"}, 0))
	if !ok || p.SHA256 != "aa" {
		t.Fatalf("Apply policy = %+v, %v", p, ok)
	}
	// A listing reports what changed since.
	changed := s.Reset([]Event{put(t, "d/policies/authorize", PolicyState{Name: "authorize", SHA256: "bb"}, 0)})
	if len(changed) != 2 || changed[0].Name != "authorize" || changed[1].Name != "lookup" || !changed[1].Removed {
		t.Fatalf("Reset changes = %+v", changed)
	}
	if p, ok := s.Apply(Event{Delete: true, Key: "d/policies/authorize"}); !ok || !p.Removed {
		t.Fatalf("delete = %+v, %v", p, ok)
	}
	// Malformed and foreign keys change nothing.
	if _, ok := s.Apply(Event{Key: "d/policies/x", Value: []byte("{")}); ok {
		t.Fatal("a malformed policy state applies")
	}
	if _, ok := s.Apply(Event{Key: "blobs/aa/000000", Value: []byte("x")}); ok {
		t.Fatal("a blob is a policy")
	}
}

// TestStateBounds: a hostile member of the site (or etcd itself) cannot
// make the cache hold a huge record, nor more records of a kind than its
// bound; updates of records held still apply, and what was refused is
// counted.
func TestStateBounds(t *testing.T) {
	s := NewState()
	s.Apply(put(t, "d/members/a1", a1, 1))
	huge := Node{Name: "huge", Host: "a1.example", Member: "a1", Addr: a1.Addrs[0],
		Transports: []epmd.Transport{{Proto: "inet_tcp", Extra: make([]byte, maxRecord)}}}
	s.Apply(put(t, "d/nodes/huge", huge, 1))
	if _, ok := s.Node("huge"); ok || s.Rejected != 1 {
		t.Fatalf("a record over %d bytes: held %v, rejected %d", maxRecord, ok, s.Rejected)
	}
	node := func(i int) Event {
		n := Node{Name: fmt.Sprintf("n%d", i), Host: "a1.example", Member: "a1", Addr: a1.Addrs[0], Creation: 1}
		return put(t, "d/nodes/"+n.Name, n, 1)
	}
	for i := range maxNodes + 10 {
		s.Apply(node(i))
	}
	if got := s.NodeCount(); got != maxNodes || s.Rejected != 11 {
		t.Fatalf("a flood of %d nodes: %d held, %d rejected", maxNodes+10, got, s.Rejected)
	}
	// A node held may change; one gone makes room for another.
	upd := Node{Name: "n0", Host: "a1.example", Member: "a1", Addr: a1.Addrs[0], Creation: 2}
	s.Apply(put(t, "d/nodes/n0", upd, 1))
	if n, ok := s.Node("n0"); !ok || n.Creation != 2 {
		t.Fatalf("an update at the bound: %+v %v", n, ok)
	}
	s.Apply(Event{Delete: true, Key: "d/nodes/n1"})
	s.Apply(node(maxNodes + 100))
	if _, ok := s.Node(fmt.Sprintf("n%d", maxNodes+100)); !ok {
		t.Fatal("a node after one left, at the bound")
	}
	many := a1
	many.ID = "many"
	for i := range maxAddrs + 1 {
		many.Addrs = append(many.Addrs, netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}))
	}
	rejected := s.Rejected
	s.Apply(put(t, "d/members/many", many, 7))
	if _, ok := s.Member("many"); ok || s.Rejected != rejected+1 {
		t.Fatalf("a member with %d addresses: held %v", len(many.Addrs), ok)
	}
	for i := range maxPolicies + 1 {
		s.Apply(put(t, fmt.Sprintf("d/policies/p%d", i), PolicyState{Name: fmt.Sprintf("p%d", i)}, 0))
	}
	if got := len(s.Policies()); got != maxPolicies {
		t.Fatalf("%d policies held", got)
	}
	for i := range maxMembers + 1 {
		s.Apply(put(t, fmt.Sprintf("d/members/m%d", i), Member{ID: fmt.Sprintf("m%d", i), Role: RoleAgent}, 1))
	}
	if got := len(s.Members()); got != maxMembers {
		t.Fatalf("%d members held", got)
	}
}
