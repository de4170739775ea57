package wasm

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
)

// clock is a settable clock for backoff tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var remoteReq = &abi.LookupRequest{Name: "x", Host: "elsewhere"}

// checkFailClosed wants a denial and an error of the given kind.
func checkFailClosed(t *testing.T, r abi.Route, err error, target any) {
	t.Helper()
	if r.Kind != abi.RouteDeny || r.Reason == "" {
		t.Errorf("route = %+v, want a denial with a reason", r)
	}
	if !errors.As(err, target) {
		t.Errorf("err = %v, want a %T", err, target)
	}
}

func TestInfiniteLoop(t *testing.T) {
	clk := newClock()
	e := newEngine(t, Config{Now: clk.Now, CallTimeout: 20 * time.Millisecond})
	install(t, e, "loop", testdata(t, "loop"), "")
	install(t, e, "good", localOnly(t), "")

	for i := 0; i < CrashesBeforeBackoff; i++ {
		start := time.Now()
		r, err := e.Lookup(ctx, "loop", remoteReq)
		var timeout *TimeoutError
		checkFailClosed(t, r, err, &timeout)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("call %d took %v for a 20ms deadline", i, d)
		}
		// The engine keeps answering other policies.
		if r, err := e.Lookup(ctx, "good", remoteReq); err != nil || r.Reason != "not a local node" {
			t.Fatalf("good policy beside a looping one: %+v, %v", r, err)
		}
	}
	// Three crashes in a row: calls fail fast without running the guest.
	start := time.Now()
	_, err := e.Lookup(ctx, "loop", remoteReq)
	if !errors.Is(err, ErrBackoff) || time.Since(start) > 10*time.Millisecond {
		t.Fatalf("after %d timeouts: err = %v after %v, want ErrBackoff at once", CrashesBeforeBackoff, err, time.Since(start))
	}
	// After the backoff the policy is tried again, and fails again.
	clk.Advance(DefaultBackoff + time.Millisecond)
	var timeout *TimeoutError
	if _, err := e.Lookup(ctx, "loop", remoteReq); !errors.As(err, &timeout) {
		t.Fatalf("after the backoff: err = %v, want a timeout", err)
	}
	clk.Advance(DefaultBackoff + time.Millisecond) // the backoff doubled
	if _, err := e.Lookup(ctx, "loop", remoteReq); !errors.Is(err, ErrBackoff) {
		t.Fatalf("within the doubled backoff: err = %v, want ErrBackoff", err)
	}

	st := mustInfo(t, e, "loop").Stats
	want := Stats{Calls: 6, Failures: 6, Timeouts: 4, Backoffs: 2, Instances: 4, Discarded: 4}
	if st != want {
		t.Errorf("stats = %+v\nwant    %+v", st, want)
	}
}

func TestTrap(t *testing.T) {
	clk := newClock()
	e := newEngine(t, Config{Now: clk.Now})
	install(t, e, "trap", testdata(t, "trap"), "")
	r, err := e.Lookup(ctx, "trap", remoteReq)
	var trap *TrapError
	checkFailClosed(t, r, err, &trap)
	d, err := e.Authorize(ctx, "trap", &abi.AuthorizeRequest{Action: abi.ActionReach, Node: "a@b"})
	if d.Allow || !errors.As(err, &trap) {
		t.Errorf("Authorize on a trapping policy = %+v, %v", d, err)
	}
	st := mustInfo(t, e, "trap").Stats
	if st.Traps != 2 || st.Failures != 2 || st.Discarded != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestUnboundedMemory(t *testing.T) {
	e := newEngine(t, Config{MaxMemoryBytes: 4 << 20, CallTimeout: DefaultCallTimeout})
	install(t, e, "grow", testdata(t, "grow"), "")
	r, err := e.Lookup(ctx, "grow", remoteReq)
	var trap *TrapError
	checkFailClosed(t, r, err, &trap)
}

func TestGarbage(t *testing.T) {
	e := newEngine(t, Config{})
	install(t, e, "garbage", testdata(t, "garbage"), "")
	install(t, e, "invalid", testdata(t, "invalid_route"), "")
	var res *ResultError
	r, err := e.Lookup(ctx, "garbage", remoteReq)
	checkFailClosed(t, r, err, &res)
	if !errors.Is(err, abi.ErrMalformed) {
		t.Errorf("garbage route: %v, want abi.ErrMalformed", err)
	}
	d, err := e.Authorize(ctx, "garbage", &abi.AuthorizeRequest{Action: abi.ActionList})
	if d.Allow || !errors.As(err, &res) {
		t.Errorf("out-of-bounds decision = %+v, %v", d, err)
	}
	r, err = e.Lookup(ctx, "invalid", remoteReq)
	checkFailClosed(t, r, err, &res)
	if !errors.Is(err, abi.ErrInvalid) {
		t.Errorf("route via no site: %v, want abi.ErrInvalid", err)
	}
	st := mustInfo(t, e, "garbage").Stats
	if st.Invalid != 2 || st.Failures != 2 || st.Discarded != 0 || st.Instances != 1 {
		t.Errorf("garbage stats = %+v (garbage keeps the instance)", st)
	}
}

func TestFailRoute(t *testing.T) {
	e := newEngine(t, Config{FailRoute: abi.Via("hub", abi.TransportTLS)})
	install(t, e, "trap", testdata(t, "trap"), "")
	r, err := e.Lookup(ctx, "trap", remoteReq)
	if err == nil || r.Kind != abi.RouteVia || r.Site != "hub" {
		t.Errorf("Lookup on a trapping policy = %+v, %v; want the configured fail route", r, err)
	}
	if _, err := New(ctx, Config{FailRoute: abi.Via("", "")}); err == nil {
		t.Error("New accepted an invalid fail route")
	}
}

func TestGoHostile(t *testing.T) {
	// The deadline leaves room for a Go guest's garbage collection of
	// its 4 MiB a call on a loaded machine: a leaking call must end in
	// the memory cap's trap, not in a timeout.
	e := newEngine(t, Config{CallTimeout: 500 * time.Millisecond, Instances: 1})
	install(t, e, "go", build.Go(t, "testdata/gohostile"), "")
	ok := func() {
		t.Helper()
		if r, err := e.Lookup(ctx, "go", &abi.LookupRequest{Name: "fine"}); err != nil || r.Kind != abi.RouteLocal {
			t.Fatalf("a good call after a bad one: %+v, %v", r, err)
		}
	}
	var (
		res     *ResultError
		trap    *TrapError
		timeout *TimeoutError
	)
	r, err := e.Lookup(ctx, "go", &abi.LookupRequest{Name: "panic"})
	checkFailClosed(t, r, err, &res)
	if res != nil && res.Code != abi.CodeFailed {
		t.Errorf("a recovered panic answered %v, want %v", res.Code, abi.CodeFailed)
	}
	ok()
	r, err = e.Lookup(ctx, "go", &abi.LookupRequest{Name: "exit"})
	checkFailClosed(t, r, err, &trap)
	ok()
	r, err = e.Lookup(ctx, "go", &abi.LookupRequest{Name: "loop"})
	checkFailClosed(t, r, err, &timeout)
	ok()
	// A Go guest that keeps 4 MiB per call hits the 64 MiB cap within 16
	// calls: the Go runtime aborts, the instance is replaced.
	var leaks int
	for leaks = 1; leaks <= 20; leaks++ {
		if _, err := e.Lookup(ctx, "go", &abi.LookupRequest{Name: "leak"}); err != nil {
			if !errors.As(err, &trap) {
				t.Fatalf("leak %d: %v, want a trap", leaks, err)
			}
			break
		}
	}
	if leaks > 20 {
		t.Fatal("a Go guest leaked 80 MiB under a 64 MiB cap")
	}
	ok()
	st := mustInfo(t, e, "go").Stats
	if st.Errors != 1 || st.Traps != 2 || st.Timeouts != 1 || st.Discarded != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestHostFunctions(t *testing.T) {
	clk := newClock()
	e := newEngine(t, Config{Now: clk.Now})
	install(t, e, "echo", testdata(t, "echo_config"), "hello from the config")
	r, err := e.Lookup(ctx, "echo", remoteReq)
	if err != nil || r.Reason != "hello from the config" {
		t.Fatalf("config_read: route %+v, %v", r, err)
	}
	if d, err := e.Authorize(ctx, "echo", &abi.AuthorizeRequest{}); err != nil || !d.Allow {
		t.Fatalf("now() in 2026: %+v, %v", d, err)
	}
	clk.Advance(-10 * 365 * 24 * time.Hour)
	if d, err := e.Authorize(ctx, "echo", &abi.AuthorizeRequest{}); err != nil || d.Allow {
		t.Fatalf("now() in 2016: %+v, %v", d, err)
	}
}

// TestTableCap: tables live on the gateway's heap, outside the memory
// cap: their elements are capped in all, at upload and when they grow.
func TestTableCap(t *testing.T) {
	e := newEngine(t, Config{})
	install(t, e, "grow", testdata(t, "table_grow"), "")
	r, err := e.Lookup(ctx, "grow", remoteReq)
	var trap *TrapError
	checkFailClosed(t, r, err, &trap)
	_, err = e.Install(ctx, "big", testdata(t, "big_table"), nil)
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "exceed the cap") {
		t.Errorf("a table of 2^24 elements: %v, want ErrInvalidModule", err)
	}
}
