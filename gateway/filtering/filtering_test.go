package filtering

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/distfilter"
	"github.com/distgate/distgate/gateway/events"
)

// fakeEngine answers with decide, and counts the calls.
type fakeEngine struct {
	mu     sync.Mutex
	calls  []abi.FilterRequest
	has    bool
	decide func(*abi.FilterRequest) (abi.Verdict, error)
}

func (e *fakeEngine) Filter(_ context.Context, _ string, req *abi.FilterRequest) (abi.Verdict, error) {
	e.mu.Lock()
	e.calls = append(e.calls, *req)
	e.mu.Unlock()
	return e.decide(req)
}

func (e *fakeEngine) Filters(string) bool { return e.has }

// noRemoteExec denies spawn requests of os, allows the rest; reg_send
// verdicts are not cached.
func noRemoteExec(req *abi.FilterRequest) (abi.Verdict, error) {
	switch {
	case req.Op == abi.OpSpawnRequest && req.Module == "os":
		return abi.DenyMessage("no os"), nil
	case req.Op == abi.OpRegSend:
		return abi.Verdict{Action: abi.FilterAllow, NoCache: true}, nil
	}
	return abi.AllowMessage(), nil
}

func newDecider(h *Hub) *decider {
	d := &decider{h: h, ctx: context.Background(), gen: h.gen.Load()}
	d.Connect(&distfilter.Peers{Remote: distfilter.Node{Name: "a@x"}, Local: distfilter.Node{Name: "b@y"}})
	return d
}

func spawn(m, f string, arity int) *distfilter.Message {
	return &distfilter.Message{Op: distfilter.OpSpawnRequest, DOP: 29, MFA: distfilter.MFA{Module: []byte(m), Function: []byte(f), Arity: arity}}
}

// TestDecideCache: one call per shape; verdicts with NOCACHE and failures
// are asked again; Changed empties the caches.
func TestDecideCache(t *testing.T) {
	e := &fakeEngine{has: true, decide: noRemoteExec}
	h := New(Config{Engine: e, Policy: "filter"})
	d := newDecider(h)
	if len(e.calls) != 1 || e.calls[0].Op != abi.OpConnect || e.calls[0].From != "a@x" || e.calls[0].To != "b@y" {
		t.Fatalf("connect: %+v", e.calls)
	}
	send := &distfilter.Message{Op: distfilter.OpSend, DOP: 22}
	for range 3 {
		if v := d.Decide(send); v.Action != distfilter.Allow {
			t.Fatalf("send: %+v", v)
		}
		if v := d.Decide(spawn("os", "cmd", 1)); v.Action != distfilter.Deny || v.Reason != "no os" {
			t.Fatalf("os:cmd/1: %+v", v)
		}
		if v := d.Decide(spawn("os", "cmd", 2)); v.Action != distfilter.Deny {
			t.Fatalf("os:cmd/2: %+v", v)
		}
		d.Decide(&distfilter.Message{Op: distfilter.OpRegSend, DOP: 6, Name: []byte("rex")})
	}
	if n := len(e.calls); n != 1+3+3 { // connect, three shapes once, reg_send each time
		t.Fatalf("%d calls, want 7", n)
	}
	h.Changed()
	d.Decide(send)
	if n := len(e.calls); n != 8 {
		t.Fatalf("after Changed: %d calls, want 8", n)
	}
	st := h.Stats()
	if st.Decisions["deny"]["spawn_request"] != 6 || st.Decisions["allow"]["send"] != 4 || st.Decisions["allow"]["connect"] != 1 || st.Cached == 0 {
		t.Fatalf("stats: %+v", st)
	}
	req := e.calls[2]
	if req.Module != "os" || req.Function != "cmd" || req.Arity != 1 || req.From != "a@x" || req.DOP != 29 {
		t.Fatalf("request: %+v", req)
	}
}

// TestDecideFailure: a failing policy denies the message (or closes the
// connection with FailClose), and is asked again; a failing connect
// filters the connection (closes it with FailClose).
func TestDecideFailure(t *testing.T) {
	fail := func(*abi.FilterRequest) (abi.Verdict, error) { return abi.DenyMessage("x"), errors.New("trap") }
	for _, mode := range []Failure{FailDeny, FailClose} {
		e := &fakeEngine{has: true, decide: fail}
		h := New(Config{Engine: e, Policy: "filter", OnFailure: mode})
		d := &decider{h: h, ctx: context.Background()}
		want := distfilter.Deny
		if mode == FailClose {
			want = distfilter.Close
		}
		if v := d.Connect(&distfilter.Peers{}); v.Unfiltered || (v.Action == distfilter.Close) != (mode == FailClose) {
			t.Fatalf("%v: connect on failure: %+v", mode, v)
		}
		for range 2 {
			if v := d.Decide(&distfilter.Message{Op: distfilter.OpSend}); v.Action != want {
				t.Fatalf("%v: %+v", mode, v)
			}
		}
		if len(e.calls) != 3 || h.Stats().Failures != 3 {
			t.Fatalf("%v: %d calls, %+v", mode, len(e.calls), h.Stats())
		}
	}
}

// TestConnectUnfiltered: a connection the policy passes whole is counted.
func TestConnectUnfiltered(t *testing.T) {
	e := &fakeEngine{has: true, decide: func(*abi.FilterRequest) (abi.Verdict, error) {
		return abi.Verdict{Action: abi.FilterAllow, Unfiltered: true}, nil
	}}
	h := New(Config{Engine: e, Policy: "filter"})
	d := &decider{h: h, ctx: context.Background()}
	if v := d.Connect(&distfilter.Peers{}); v.Action != distfilter.Allow || !v.Unfiltered {
		t.Fatalf("connect: %+v", v)
	}
	if h.Stats().Unfiltered != 1 {
		t.Fatalf("stats: %+v", h.Stats())
	}
}

// TestWrapInactive: without a filter policy the stream is returned as is.
func TestWrapInactive(t *testing.T) {
	h := New(Config{Engine: &fakeEngine{}, Policy: "filter"})
	s, filtered, err := h.Wrap(context.Background(), nil, Conn{})
	if s != nil || filtered || err != nil {
		t.Fatalf("Wrap = %v, %v, %v", s, filtered, err)
	}
	var nilHub *Hub
	if nilHub.Active() {
		t.Fatal("a nil Hub is active")
	}
}

// TestShapeAllocs: a cached decision does not allocate.
func TestShapeAllocs(t *testing.T) {
	e := &fakeEngine{has: true, decide: noRemoteExec}
	d := newDecider(New(Config{Engine: e, Policy: "filter"}))
	m := spawn("erlang", "apply", 3)
	d.Decide(m)
	if n := testing.AllocsPerRun(100, func() { d.Decide(m) }); n != 0 {
		t.Fatalf("%v allocations per cached decision", n)
	}
}

// TestRefusalLogBounded: a flood of refusals writes a few lines, then one
// summary.
func TestRefusalLogBounded(t *testing.T) {
	var buf bytes.Buffer
	ev := events.NewLog(100, nil, nil)
	l := newRefusalLog(slog.New(slog.NewTextHandler(&buf, nil)), ev)
	for i := range 1000 {
		kind := "deny spawn_request"
		if i%2 == 0 {
			kind = "deny reg_send"
		}
		l.refused(kind, func() []any { return []any{"n", i} }, func() events.Event { return events.Event{Kind: events.Filtered} })
	}
	l.close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2*admit.LogPerKind+1 || !strings.Contains(lines[len(lines)-1], "not_logged=994") {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	if n := len(ev.Since(0, "", 0)); n != 2*admit.LogPerKind {
		t.Fatalf("%d events, want %d", n, 2*admit.LogPerKind)
	}
}

// TestPolicyRemoved: once the filter policy is gone, a filtered
// connection closes at its next message (the removal empties the caches).
func TestPolicyRemoved(t *testing.T) {
	e := &fakeEngine{has: true, decide: noRemoteExec}
	d := newDecider(New(Config{Engine: e, Policy: "filter"}))
	send := &distfilter.Message{Op: distfilter.OpSend, DOP: 22}
	if v := d.Decide(send); v.Action != distfilter.Allow {
		t.Fatalf("send: %+v", v)
	}
	e.has = false
	e.decide = func(*abi.FilterRequest) (abi.Verdict, error) { return abi.DenyMessage("x"), errors.New("no policy") }
	d.h.Changed()
	if v := d.Decide(send); v.Action != distfilter.Close {
		t.Fatalf("send after the removal: %+v", v)
	}
}
