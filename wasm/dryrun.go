package wasm

import (
	"context"
	"fmt"

	"github.com/distgate/distgate/abi"
)

// DryRunLookup answers a lookup with one kept version of a policy (seq 0:
// the active one) without making it active. The active version answers
// on its running instances, as a decision would (a dry run costs what a
// decision costs); another version is loaded beside the active one for
// this call and closed after it. A dry run is counted in the policy's
// Stats.Tests, never in its Calls or failures: an operator tests a
// version without touching the counters of the live decisions. Failures
// are returned as errors.
func (e *Engine) DryRunLookup(ctx context.Context, name string, seq int, req *abi.LookupRequest) (abi.Route, error) {
	if live, err := e.slot(name); err == nil {
		if v := live.acquire(); v != nil {
			if seq == 0 || seq == v.meta.Seq {
				defer v.release()
				live.stats.tests.Add(1)
				return e.dryRunOn(ctx, name, v, req)
			}
			v.release()
		}
	}
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
	live := (*e.slots.Load())[name]
	e.mu.Unlock()
	if err != nil {
		return abi.Route{}, fmt.Errorf("wasm: dry run %s v%d: %w", name, seq, err)
	}
	if live != nil {
		live.stats.tests.Add(1)
	}
	s := &slot{name: name} // detached: its counters go nowhere
	v, err := e.load(ctx, s, meta, module)
	if err != nil {
		return abi.Route{}, fmt.Errorf("wasm: dry run %s v%d: %w", name, seq, err)
	}
	defer v.release()
	return e.dryRunOn(ctx, name, v, req)
}

// dryRunOn asks version v, through a detached slot whose counters go
// nowhere; the caller holds a reference to v.
func (e *Engine) dryRunOn(ctx context.Context, name string, v *version, req *abi.LookupRequest) (abi.Route, error) {
	if !v.acquire() {
		return abi.Route{}, fmt.Errorf("wasm: dry run %s: %w", name, ErrClosed)
	}
	s := &slot{name: name}
	s.cur.Store(v) // the slot's reference, released below
	defer v.release()
	return e.lookupOn(ctx, s, req)
}
