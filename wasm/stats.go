package wasm

import "sync/atomic"

// Stats counts the decisions of one policy, across its versions, since the
// engine started. Every failure fails closed: a lookup gets
// Config.FailRoute, an authorization a refusal.
type Stats struct {
	Calls       uint64 // decisions asked
	Cached      uint64 // decisions answered by a route the policy allowed to be reused, without a call
	Failures    uint64 // decisions that failed closed, for any of the reasons below
	Timeouts    uint64 // calls cut off at the deadline
	Traps       uint64 // calls that trapped or exited (panics, memory cap, stack overflow)
	Invalid     uint64 // results that were not a valid message
	Errors      uint64 // error codes returned by the policy (including unsupported)
	Backoffs    uint64 // calls refused while the policy backs off after crashes
	Unavailable uint64 // calls with no loaded version or no instance to be had
	Instances   uint64 // instances created
	Discarded   uint64 // instances thrown away after a trap or a timeout
	Tests       uint64 // dry runs (DryRunLookup), counted in nothing above
}

// stats is the live form of Stats.
type stats struct {
	calls, cached, failures, timeouts, traps, invalid, errors, backoffs, unavailable atomic.Uint64
	instances, discarded                                                             atomic.Uint64
	tests                                                                            atomic.Uint64
}

func (s *stats) snapshot() Stats {
	return Stats{
		Calls: s.calls.Load(), Cached: s.cached.Load(), Failures: s.failures.Load(), Timeouts: s.timeouts.Load(),
		Traps: s.traps.Load(), Invalid: s.invalid.Load(), Errors: s.errors.Load(),
		Backoffs: s.backoffs.Load(), Unavailable: s.unavailable.Load(),
		Instances: s.instances.Load(), Discarded: s.discarded.Load(), Tests: s.tests.Load(),
	}
}
