package wasm

import (
	"errors"
	"testing"

	"github.com/distgate/distgate/abi"
)

// TestFilter: a module that exports only distgate_filter is a policy;
// Filter returns its verdict; a policy without the export, or a missing
// one, denies with an error.
func TestFilter(t *testing.T) {
	e := newEngine(t, Config{})
	install(t, e, "filter", testdata(t, "filter_close"), "")
	req := &abi.FilterRequest{Op: abi.OpSpawnRequest, Module: "os", Function: "cmd", Arity: 1}
	v, err := e.Filter(ctx, "filter", req)
	if err != nil || v.Action != abi.FilterClose || v.Reason != "no" {
		t.Fatalf("Filter = %+v, %v", v, err)
	}
	if _, err := e.Lookup(ctx, "filter", &abi.LookupRequest{Name: "a"}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Lookup on a filter policy: %v, want ErrUnsupported", err)
	}
	install(t, e, "routes", staticMap(t), staticMapConfig)
	v, err = e.Filter(ctx, "routes", req)
	if !errors.Is(err, errors.ErrUnsupported) || v.Action != abi.FilterDeny {
		t.Fatalf("Filter on a lookup policy = %+v, %v; want a denial and ErrUnsupported", v, err)
	}
	v, err = e.Filter(ctx, "missing", req)
	if !errors.Is(err, ErrNoPolicy) || v.Action != abi.FilterDeny {
		t.Fatalf("Filter on no policy = %+v, %v", v, err)
	}
}
