package gateway

import (
	"net/netip"
	"testing"
	"time"
)

func TestEdgeLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newEdgeLimiter(1000, 1000, 2, 3)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2")
	for i, tc := range []struct {
		peer netip.Addr
		ok   bool
	}{{a, true}, {a, true}, {a, false}, {b, true}, {b, false}} {
		if ok, reason := l.admit(tc.peer, now); ok != tc.ok {
			t.Fatalf("step %d (%s): %v %s", i, tc.peer, ok, reason)
		}
	}
	l.done(a)
	if ok, _ := l.admit(b, now); !ok {
		t.Fatal("a released connection was not given back")
	}
	l.done(a)
	l.done(b)
	l.done(b)
	// One IPv6 /64 is one source.
	if ok, _ := l.admit(v6a, now); !ok {
		t.Fatal("v6a refused")
	}
	if ok, _ := l.admit(v6b, now); !ok {
		t.Fatal("v6b refused")
	}
	if ok, reason := l.admit(v6b, now); ok || reason != "too many connections from one source" {
		t.Fatalf("a third connection from one /64: %v %s", ok, reason)
	}
	// The rate: a burst of 2, then one per second.
	r := newEdgeLimiter(1, 2, 100, 100)
	c := netip.MustParseAddr("198.51.100.7")
	for i, want := range []bool{true, true, false} {
		ok, _ := r.admit(c, now)
		if ok != want {
			t.Fatalf("rate step %d: %v", i, ok)
		}
		if ok {
			r.done(c)
		}
	}
	if ok, _ := r.admit(c, now.Add(time.Second)); !ok {
		t.Fatal("a token did not come back after a second")
	}
	// Idle sources are forgotten.
	r.done(c)
	r.admit(netip.MustParseAddr("198.51.100.8"), now.Add(2*time.Minute))
	if _, ok := r.sources[sourceOf(c)]; ok {
		t.Fatal("an idle source was not pruned")
	}
}
