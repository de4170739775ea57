package wasm

import (
	"errors"
	"testing"

	"github.com/distgate/distgate/abi"
)

// TestDryRun: a dry run of the active version answers on its running
// instances (it starts none: what made `policy test` cost a module load
// each time), a dry run of an older kept version answers with that
// version, and both are counted as tests, never as decisions.
func TestDryRun(t *testing.T) {
	e := newEngine(t, Config{})
	install(t, e, "routes", localOnly(t), "")
	install(t, e, "routes", staticMap(t), staticMapConfig)
	req := &abi.LookupRequest{Name: "db7", Host: "h9"}
	if _, err := e.Lookup(ctx, "routes", req); err != nil {
		t.Fatal(err)
	}
	before := mustInfo(t, e, "routes").Stats
	for range 5 {
		r, err := e.DryRunLookup(ctx, "routes", 0, req)
		if err != nil || r.Kind != abi.RouteVia || r.Site != "eu-west" {
			t.Fatalf("dry run of the active version = %+v, %v", r, err)
		}
	}
	r, err := e.DryRunLookup(ctx, "routes", 2, req)
	if err != nil || r.Kind != abi.RouteVia {
		t.Fatalf("dry run of version 2 (active) = %+v, %v", r, err)
	}
	after := mustInfo(t, e, "routes").Stats
	if after.Instances != before.Instances {
		t.Fatalf("dry runs of the active version started %d instances", after.Instances-before.Instances)
	}
	if after.Calls != before.Calls || after.Tests != before.Tests+6 {
		t.Fatalf("stats %+v after %+v: want 6 more tests, no more calls", after, before)
	}
	// Version 1 is local-only: it denies a node of another host.
	r, err = e.DryRunLookup(ctx, "routes", 1, req)
	if err != nil || r.Kind != abi.RouteDeny || r.Reason != "not a local node" {
		t.Fatalf("dry run of version 1 = %+v, %v", r, err)
	}
	if st := mustInfo(t, e, "routes"); st.Stats.Tests != before.Tests+7 || st.Active.Seq != 2 {
		t.Fatalf("after a dry run of version 1: %+v", st)
	}
	if _, err := e.DryRunLookup(ctx, "routes", 9, req); err == nil {
		t.Fatal("a dry run of a version not kept answered")
	}
	if _, err := e.DryRunLookup(ctx, "nothing", 0, req); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("a dry run of no policy: %v", err)
	}
}
