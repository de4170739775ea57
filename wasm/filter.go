package wasm

import (
	"context"

	"github.com/tetratelabs/wazero/api"

	"github.com/distgate/distgate/abi"
)

// Filter asks policy name whether a distribution message (or, with
// abi.OpConnect, a new connection) may pass (ABI revision 4). It always
// returns a verdict the gateway can act on: on failure — no such policy,
// one that does not export distgate_filter, a trap, a timeout, garbage, a
// backoff — it returns a denial together with the error, which the engine
// has already counted and logged.
func (e *Engine) Filter(ctx context.Context, name string, req *abi.FilterRequest) (abi.Verdict, error) {
	s, err := e.slot(name)
	if err != nil {
		return abi.DenyMessage("policy " + name + " unavailable"), err
	}
	var v abi.Verdict
	err = e.decide(ctx, s, func(in *instance) api.Function { return in.filter }, req, func(_ *version, _, out []byte) error {
		var err error
		if v, err = abi.ParseVerdict(out); err == nil {
			err = v.Validate()
		}
		return err
	})
	if err != nil {
		return abi.DenyMessage("policy " + name + " unavailable"), err
	}
	return v, nil
}

// Filters reports whether the active version of policy name exports
// distgate_filter: whether Filter can answer. It costs a map lookup and
// an atomic load; the gateway asks it once per connection.
func (e *Engine) Filters(name string) bool {
	s, err := e.slot(name)
	if err != nil {
		return false
	}
	v := s.cur.Load()
	return v != nil && v.exports.filter
}
