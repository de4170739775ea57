package wasm

import (
	"context"
	"errors"
	"testing"

	"github.com/distgate/distgate/abi"
)

var ctx = context.Background()

const staticMapConfig = `{"routes": [
  {"match": "db*@*", "site": "eu-west", "transport": "quic", "tick_ms": 15000},
  {"match": "*@gw1", "local": true}
]}`

func TestLookupGo(t *testing.T) {
	e := newEngine(t, Config{})
	v := install(t, e, "routes", staticMap(t), staticMapConfig)
	if v.Seq != 1 || v.SHA256 == "" {
		t.Errorf("Install = %+v", v)
	}
	r, err := e.Lookup(ctx, "routes", &abi.LookupRequest{Name: "db7", Host: "h9"})
	if err != nil || r.Kind != abi.RouteVia || r.Site != "eu-west" || r.Transport != "quic" || r.Options.TickMS != 15000 {
		t.Fatalf("Lookup(db7@h9) = %+v, %v", r, err)
	}
	r, err = e.Lookup(ctx, "routes", &abi.LookupRequest{Name: "zz", Host: "h9"})
	if err != nil || r.Kind != abi.RouteDeny || r.Reason == "" {
		t.Fatalf("Lookup(zz@h9) = %+v, %v", r, err)
	}
	_, err = e.Authorize(ctx, "routes", &abi.AuthorizeRequest{Action: abi.ActionList})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Authorize on a lookup policy: err = %v, want ErrUnsupported", err)
	}
	st := mustInfo(t, e, "routes").Stats
	if st.Calls != 3 || st.Failures != 1 || st.Errors != 1 || st.Instances != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestLookupWAT(t *testing.T) {
	e := newEngine(t, Config{})
	install(t, e, "local", localOnly(t), "")
	r, err := e.Lookup(ctx, "local", &abi.LookupRequest{Name: "a", LocalHost: true, Registered: true})
	if err != nil || r.Kind != abi.RouteLocal {
		t.Fatalf("Lookup(registered) = %+v, %v", r, err)
	}
	r, err = e.Lookup(ctx, "local", &abi.LookupRequest{Name: "a", Host: "elsewhere"})
	if err != nil || r.Kind != abi.RouteDeny || r.Reason != "not a local node" {
		t.Fatalf("Lookup(remote) = %+v, %v", r, err)
	}
}

func TestNoPolicy(t *testing.T) {
	e := newEngine(t, Config{FailRoute: abi.Local()})
	r, err := e.Lookup(ctx, "missing", &abi.LookupRequest{Name: "a"})
	if !errors.Is(err, ErrNoPolicy) || r.Kind != abi.RouteLocal {
		t.Fatalf("Lookup(missing policy) = %+v, %v; want the fail route and ErrNoPolicy", r, err)
	}
	d, err := e.Authorize(ctx, "missing", &abi.AuthorizeRequest{Action: abi.ActionList})
	if !errors.Is(err, ErrNoPolicy) || d.Allow {
		t.Fatalf("Authorize(missing policy) = %+v, %v", d, err)
	}
}

func mustInfo(t testing.TB, e *Engine, name string) PolicyInfo {
	t.Helper()
	info, err := e.Policy(name)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
