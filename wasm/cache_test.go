package wasm

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
)

// TestRouteCache: a route that allows it (CacheMS) answers the same
// request again without a call, until it expires; another request, a new
// version, or a route without CacheMS calls the policy.
func TestRouteCache(t *testing.T) {
	clk := newClock()
	e := newEngine(t, Config{Now: clk.Now})
	install(t, e, "p", testdata(t, "cached"), "")
	a, b := &abi.LookupRequest{Name: "a", Host: "h"}, &abi.LookupRequest{Name: "b", Host: "h"}
	want := func(req *abi.LookupRequest, reason string) {
		t.Helper()
		r, err := e.Lookup(ctx, "p", req)
		if err != nil || r.Reason != reason || r.CacheMS != 60000 {
			t.Fatalf("Lookup(%s) = %+v, %v; want %q", req.Name, r, err, reason)
		}
	}
	if _, ok := e.CachedLookup("p", a); ok || e.Reuses("p") {
		t.Fatal("CachedLookup answered before any lookup")
	}
	want(a, "call 1")
	if !e.Reuses("p") {
		t.Error("Reuses = false after a reusable route")
	}
	want(a, "call 1") // cached
	if r, ok := e.CachedLookup("p", a); !ok || r.Reason != "call 1" {
		t.Fatalf("CachedLookup = %+v, %v", r, ok)
	}
	want(b, "call 2")                                                          // another request
	want(&abi.LookupRequest{Name: "a", Host: "h", Registered: true}, "call 3") // a flag differs
	// The same asker from another source port (a new connection) is the
	// same request; another address is not.
	from := func(addr string) *abi.LookupRequest {
		return &abi.LookupRequest{Name: "c", Host: "h", Asker: abi.Asker{Addr: netip.MustParseAddrPort(addr)}}
	}
	want(from("127.0.0.1:40001"), "call 4")
	want(from("127.0.0.1:40002"), "call 4")
	want(from("127.0.0.2:40001"), "call 5")
	clk.Advance(59 * time.Second)
	want(a, "call 1")
	clk.Advance(2 * time.Second) // expired
	want(a, "call 6")
	if st := mustInfo(t, e, "p").Stats; st.Calls != 10 || st.Cached != 4 || st.Failures != 0 {
		t.Errorf("stats = %+v, want 10 calls, 4 cached", st)
	}
	// A new version starts with an empty cache (and a new instance).
	install(t, e, "p", testdata(t, "cached"), "")
	want(a, "call 1")
	want(a, "call 1")
	// A route without CacheMS is never reused.
	install(t, e, "q", localOnly(t), "")
	for range 2 {
		if _, err := e.Lookup(ctx, "q", remoteReq); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := e.CachedLookup("q", remoteReq); ok || e.Reuses("q") {
		t.Error("CachedLookup answered for a policy that allows no reuse")
	}
	if st := mustInfo(t, e, "q").Stats; st.Cached != 0 || st.Calls != 2 {
		t.Errorf("stats of a policy without CacheMS = %+v", st)
	}
}

// TestRouteCacheBounded: a version keeps at most two generations of
// maxCachedRoutes routes.
func TestRouteCacheBounded(t *testing.T) {
	e := newEngine(t, Config{})
	install(t, e, "p", testdata(t, "cached"), "")
	for i := range 3*maxCachedRoutes + 1 {
		if _, err := e.Lookup(ctx, "p", &abi.LookupRequest{Name: fmt.Sprint("n", i)}); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := e.slot("p")
	c := &s.cur.Load().cache
	c.mu.RLock()
	n := len(c.cur) + len(c.prev)
	c.mu.RUnlock()
	if n > 2*maxCachedRoutes || n < maxCachedRoutes {
		t.Errorf("%d routes cached after %d lookups, want at most %d", n, 3*maxCachedRoutes+1, 2*maxCachedRoutes)
	}
	// The newest are kept, the oldest dropped.
	if _, ok := e.CachedLookup("p", &abi.LookupRequest{Name: fmt.Sprint("n", 3*maxCachedRoutes)}); !ok {
		t.Error("the newest route is not cached")
	}
	if _, ok := e.CachedLookup("p", &abi.LookupRequest{Name: "n0"}); ok {
		t.Error("the oldest route is still cached")
	}
}
