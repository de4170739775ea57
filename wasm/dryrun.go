package wasm

import (
	"context"
	"fmt"

	"github.com/distgate/distgate/abi"
)

// DryRunLookup answers a lookup with one kept version of a policy (seq 0:
// the active one) without making it active: the version is loaded beside
// the active one for this call and closed after it. Failures are returned
// as errors and counted in no statistics, so an operator can test a
// version before activating it.
func (e *Engine) DryRunLookup(ctx context.Context, name string, seq int, req *abi.LookupRequest) (abi.Route, error) {
	e.mu.Lock()
	x := e.store.indexes[name]
	if x == nil {
		e.mu.Unlock()
		return abi.Route{}, fmt.Errorf("wasm: dry run %s: %w", name, ErrNoPolicy)
	}
	if seq == 0 {
		seq = x.Active
	}
	meta, ok := x.find(seq)
	if !ok {
		e.mu.Unlock()
		return abi.Route{}, fmt.Errorf("wasm: dry run %s: version %d is not kept", name, seq)
	}
	module, err := e.store.module(meta)
	e.mu.Unlock()
	if err != nil {
		return abi.Route{}, fmt.Errorf("wasm: dry run %s v%d: %w", name, seq, err)
	}
	s := &slot{name: name} // detached: its counters go nowhere
	v, err := e.load(ctx, s, meta, module)
	if err != nil {
		return abi.Route{}, fmt.Errorf("wasm: dry run %s v%d: %w", name, seq, err)
	}
	s.cur.Store(v)
	defer v.release()
	route, err := e.lookupOn(ctx, s, req)
	if err != nil {
		return abi.Route{}, err
	}
	return route, nil
}
