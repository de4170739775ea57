package admit

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(Limits{Rate: 1000, Burst: 1000, PerSource: 2, Total: 3, MaxSources: 100})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2")
	for i, tc := range []struct {
		peer netip.Addr
		ok   bool
	}{{a, true}, {a, true}, {a, false}, {b, true}, {b, false}} {
		if ok, reason := l.Admit(tc.peer, now); ok != tc.ok {
			t.Fatalf("step %d (%s): %v %s", i, tc.peer, ok, reason)
		}
	}
	l.Done(a)
	if ok, _ := l.Admit(b, now); !ok {
		t.Fatal("a released connection was not given back")
	}
	l.Done(a)
	l.Done(b)
	l.Done(b)
	// One IPv6 /64 is one source.
	if ok, _ := l.Admit(v6a, now); !ok {
		t.Fatal("v6a refused")
	}
	if ok, _ := l.Admit(v6b, now); !ok {
		t.Fatal("v6b refused")
	}
	if ok, reason := l.Admit(v6b, now); ok || reason != "too many connections from one source" {
		t.Fatalf("a third connection from one /64: %v %s", ok, reason)
	}
	// The rate: a burst of 2, then one per second.
	r := New(Limits{Rate: 1, Burst: 2, PerSource: 100, Total: 100, MaxSources: 100})
	c := netip.MustParseAddr("198.51.100.7")
	for i, want := range []bool{true, true, false} {
		ok, _ := r.Admit(c, now)
		if ok != want {
			t.Fatalf("rate step %d: %v", i, ok)
		}
		if ok {
			r.Done(c)
		}
	}
	if ok, _ := r.Admit(c, now.Add(time.Second)); !ok {
		t.Fatal("a token did not come back after a second")
	}
	// Idle sources are forgotten.
	r.Done(c)
	r.Admit(netip.MustParseAddr("198.51.100.8"), now.Add(2*time.Minute))
	if _, ok := r.sources[sourceOf(c)]; ok {
		t.Fatal("an idle source was not pruned")
	}
}
