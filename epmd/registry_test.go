package epmd

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const t0 = int64(1795556902) // a fixed clock: the Unix time of a real run

func tcpReg(name string, port uint16) Registration {
	return Registration{Name: name, Transports: []Transport{{Proto: "inet_tcp", Port: port, Family: FamilyInet, HighVsn: 6, LowVsn: 6}}}
}

func TestRegistryCreation(t *testing.T) {
	r := NewRegistry(0)
	c1, err := r.Register(tcpReg("a", 1), Owner{ID: 1}, t0)
	if err != nil || c1 != uint32(t0)+1 {
		t.Fatalf("first registration: %d, %v; want %d", c1, err, t0+1)
	}
	if _, err := r.Register(tcpReg("a", 2), Owner{ID: 2}, t0); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("duplicate: err = %v, want ErrNameInUse", err)
	}
	if name, ok := r.UnregisterOwner(1); !ok || name != "a" {
		t.Fatalf("UnregisterOwner = %q, %v", name, ok)
	}
	// Registered again while remembered: the counter goes on, whatever
	// the clock says.
	c2, err := r.Register(tcpReg("a", 3), Owner{ID: 3}, t0+100)
	if err != nil || c2 != c1+1 {
		t.Fatalf("re-registration: %d, %v; want %d", c2, err, c1+1)
	}
	// A new name starts from the clock.
	if c, _ := r.Register(tcpReg("b", 4), Owner{ID: 4}, t0+50); c != uint32(t0)+51 {
		t.Fatalf("new name creation %d, want %d", c, t0+51)
	}
}

func TestRegistryCreationAvoidsLowValues(t *testing.T) {
	r := NewRegistry(0)
	// A clock of 2^32-1 wraps the counter to 0: it must become 4.
	c, err := r.Register(tcpReg("a", 1), Owner{ID: 1}, 1<<32-1)
	if err != nil || c != 4 {
		t.Fatalf("creation = %d, %v; want 4", c, err)
	}
}

func TestRegistryForgetsOldestNames(t *testing.T) {
	r := NewRegistry(3)
	for i := range 5 {
		name := fmt.Sprintf("n%d", i)
		if _, err := r.Register(tcpReg(name, 1), Owner{ID: uint64(i + 1)}, t0); err != nil {
			t.Fatal(err)
		}
		r.UnregisterOwner(uint64(i + 1))
	}
	dump := string(r.AppendDump(nil))
	for _, gone := range []string{"<n0>", "<n1>"} {
		if strings.Contains(dump, gone) {
			t.Fatalf("dump still remembers %s:\n%s", gone, dump)
		}
	}
	if !strings.Contains(dump, "old/unused name <n2>") || !strings.Contains(dump, "<n4>") {
		t.Fatalf("dump lost recent names:\n%s", dump)
	}
	// n0 is forgotten: it starts from the clock again.
	if c, _ := r.Register(tcpReg("n0", 1), Owner{ID: 10}, t0+1000); c != uint32(t0)+1001 {
		t.Fatalf("forgotten name creation %d", c)
	}
}

func TestRegistryNamesNewestFirst(t *testing.T) {
	r := NewRegistry(0)
	r.Register(tcpReg("a", 1), Owner{ID: 1, FD: 5}, t0)
	r.Register(tcpReg("b", 2), Owner{ID: 2, FD: 6}, t0)
	r.Register(tcpReg("c", 3), Owner{ID: 3, FD: 7}, t0)
	r.UnregisterOwner(2)
	if got := string(r.AppendNames(nil)); got != "name c at port 3\nname a at port 1\n" {
		t.Fatalf("names = %q", got)
	}
	want := "active name     <c> at port 3, fd = 7\n\x00active name     <a> at port 1, fd = 5\n\x00old/unused name <b>, port = 2, fd = 6 \n\x00"
	if got := string(r.AppendDump(nil)); got != want {
		t.Fatalf("dump = %q\nwant %q", got, want)
	}
}

func TestRegistryMultiTransport(t *testing.T) {
	r := NewRegistry(0)
	reg := Registration{Name: "app", Host: "h1", Transports: []Transport{
		{Proto: "inet_tls", Port: 5001, Family: FamilyInet, HighVsn: 6, LowVsn: 6},
		{Proto: "uds", Path: "/run/app.sock", Family: FamilyLocal, HighVsn: 6, LowVsn: 6},
		{Proto: "inet_tcp", Port: 5000, Family: FamilyInet, HighVsn: 6, LowVsn: 6},
	}}
	if _, err := r.Register(reg, Owner{ID: 1}, t0); err != nil {
		t.Fatal(err)
	}
	// PORT_PLEASE2 prefers the first plain TCP transport.
	if p := r.PortPlease("app"); p == nil || p.Port != 5000 {
		t.Fatalf("PortPlease = %+v, want port 5000", p)
	}
	eps, ok := r.Lookup("app", []string{"inet_tcp", "inet_tls", "inet_tcp"})
	if !ok || len(eps) != 2 || eps[0].Port != 5000 || eps[1].Port != 5001 {
		t.Fatalf("Lookup accept order = %+v", eps)
	}
	eps, _ = r.Lookup("app", nil)
	if len(eps) != 3 || eps[0].Proto != "inet_tls" || eps[1].Path != "/run/app.sock" {
		t.Fatalf("Lookup all = %+v", eps)
	}
	if eps, ok := r.Lookup("app", []string{"quic"}); !ok || len(eps) != 0 {
		t.Fatalf("Lookup quic = %+v, %v", eps, ok)
	}
	if _, ok := r.Lookup("nope", nil); ok {
		t.Fatal("unknown name found")
	}
	if _, err := r.AddTransports(1, []Transport{{Proto: "quic", Port: 7000, Family: FamilyInet}}); err != nil {
		t.Fatal(err)
	}
	if eps, _ := r.Lookup("app", []string{"quic"}); len(eps) != 1 || eps[0].Port != 7000 {
		t.Fatalf("after AddTransports: %+v", eps)
	}
	if _, err := r.AddTransports(2, []Transport{{Proto: "quic"}}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("AddTransports by a stranger: %v", err)
	}
	nodes := r.Nodes()
	if len(nodes) != 1 || nodes[0].Host != "h1" || len(nodes[0].Transports) != 4 {
		t.Fatalf("Nodes = %+v", nodes)
	}
	// A TLS-only node is still found by PORT_PLEASE2, on its TLS port; a
	// socket-only node is not.
	r.Register(Registration{Name: "tls", Transports: []Transport{{Proto: "inet_tls", Port: 6001, Family: FamilyInet}}}, Owner{ID: 3}, t0)
	r.Register(Registration{Name: "sock", Transports: []Transport{{Proto: "uds", Path: "/x", Family: FamilyLocal}}}, Owner{ID: 4}, t0)
	if p := r.PortPlease("tls"); p == nil || p.Port != 6001 {
		t.Fatalf("PortPlease(tls) = %+v", p)
	}
	if p := r.PortPlease("sock"); p != nil {
		t.Fatalf("PortPlease(sock) = %+v, want nil", p)
	}
}

func TestRegistryStop(t *testing.T) {
	r := NewRegistry(0)
	r.Register(tcpReg("a", 1), Owner{ID: 7, FD: 3}, t0)
	owner, ok := r.UnregisterName("a")
	if !ok || owner.ID != 7 {
		t.Fatalf("UnregisterName = %+v, %v", owner, ok)
	}
	if _, ok := r.UnregisterName("a"); ok {
		t.Fatal("second UnregisterName succeeded")
	}
	if _, ok := r.UnregisterOwner(7); ok {
		t.Fatal("owner still registered after stop")
	}
	if r.Len() != 0 {
		t.Fatalf("Len = %d", r.Len())
	}
}

func TestRegistryOneRegistrationPerConnection(t *testing.T) {
	r := NewRegistry(0)
	r.Register(tcpReg("a", 1), Owner{ID: 1}, t0)
	if _, err := r.Register(tcpReg("b", 1), Owner{ID: 1}, t0); err == nil {
		t.Fatal("a second name on the same connection was accepted")
	}
}

// TestRegistryOwnerUID: a registration keeps its owner's uid, and the
// registry counts the registrations each uid holds.
func TestRegistryOwnerUID(t *testing.T) {
	r := NewRegistry(0)
	r.Register(tcpReg("a", 1), Owner{ID: 1, UID: 1000, HasUID: true}, t0)
	r.Register(tcpReg("b", 2), Owner{ID: 2, UID: 1000, HasUID: true}, t0)
	r.Register(tcpReg("c", 3), Owner{ID: 3}, t0)
	if o, ok := r.Owner("a"); !ok || !o.HasUID || o.UID != 1000 || o.ID != 1 {
		t.Fatalf("Owner(a) = %+v, %v", o, ok)
	}
	if o, ok := r.Owner("c"); !ok || o.HasUID {
		t.Fatalf("Owner(c) = %+v, %v; want no uid", o, ok)
	}
	if _, ok := r.Owner("d"); ok {
		t.Fatal("Owner of a name not registered")
	}
	if n := r.OwnedBy(1000); n != 2 {
		t.Fatalf("OwnedBy(1000) = %d, want 2", n)
	}
	r.UnregisterOwner(1)
	r.UnregisterName("b")
	if n := r.OwnedBy(1000); n != 0 || len(r.byUID) != 0 {
		t.Fatalf("after both left: OwnedBy(1000) = %d, %v", n, r.byUID)
	}
}
