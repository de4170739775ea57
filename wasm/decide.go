package wasm

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tetratelabs/wazero/api"

	"github.com/distgate/distgate/abi"
)

// Lookup asks policy name where a node leads. It always returns a route
// the gateway can act on: on failure — no such policy, a trap, a timeout,
// garbage, an error code, a backoff — it returns Config.FailRoute (a
// denial by default) together with the error, which the engine has
// already counted and logged. The route's slices must not be modified.
// A route the policy allowed to be reused (abi.Route.CacheMS) answers the
// same request again without a call (cache.go). ctx bounds the wait for a
// free instance and executor, which is bounded anyway (ErrBusy); the call
// itself is bounded by Config.CallTimeout.
func (e *Engine) Lookup(ctx context.Context, name string, req *abi.LookupRequest) (abi.Route, error) {
	s, err := e.slot(name)
	if err != nil {
		return e.failRoute(name), err
	}
	route, err := e.lookupOn(ctx, s, req)
	if err != nil {
		return e.failRoute(name), err
	}
	return route, nil
}

// CachedLookup answers a lookup from the routes policy name allowed to be
// reused (see Lookup), without calling it and without waiting: a lookup
// it answers is counted as a decision (and as cached); one it cannot
// answer (ok false) is not counted, and must be asked of Lookup.
func (e *Engine) CachedLookup(name string, req *abi.LookupRequest) (route abi.Route, ok bool) {
	s, err := e.slot(name)
	if err != nil {
		return abi.Route{}, false
	}
	if v := s.cur.Load(); v != nil && v.cache.used() {
		return e.cachedOn(s, v, req)
	}
	return abi.Route{}, false
}

// Reuses reports whether the active version of policy name has allowed
// routes to be reused: whether CachedLookup may answer at all.
func (e *Engine) Reuses(name string) bool {
	s, err := e.slot(name)
	if err != nil {
		return false
	}
	v := s.cur.Load()
	return v != nil && v.cache.used()
}

// cachedOn answers a lookup from the cache of v, the version in slot s.
func (e *Engine) cachedOn(s *slot, v *version, req *abi.LookupRequest) (abi.Route, bool) {
	bp, ok := e.bufs.Get().(*[]byte)
	if !ok {
		bp = new([]byte)
	}
	*bp = cacheKey((*bp)[:0], req)
	route, ok := v.cache.get(*bp, e.cfg.Now().UnixNano())
	e.bufs.Put(bp)
	if ok {
		s.stats.calls.Add(1)
		s.stats.cached.Add(1)
	}
	return route, ok
}

// lookupOn asks the version loaded in slot s for a route, or its cache,
// and checks it.
func (e *Engine) lookupOn(ctx context.Context, s *slot, req *abi.LookupRequest) (abi.Route, error) {
	// A version whose guest never allowed a route to be reused is not
	// looked up in its cache: a lookup then costs what it did without.
	if v := s.cur.Load(); v != nil && v.cache.used() {
		if r, ok := e.cachedOn(s, v, req); ok {
			return r, nil
		}
	}
	var route abi.Route
	err := e.decide(ctx, s, func(in *instance) api.Function { return in.lookup }, req, func(v *version, _, out []byte) error {
		var err error
		if route, err = abi.ParseRoute(out); err == nil {
			err = route.Validate()
		}
		if err == nil && route.CacheMS != 0 {
			v.cache.put(cacheKey(nil, req), route, e.cfg.Now().UnixNano())
		}
		return err
	})
	return route, err
}

// Authorize asks policy name whether an asker may do something. On
// failure it returns a refusal together with the error, which the engine
// has already counted and logged.
func (e *Engine) Authorize(ctx context.Context, name string, req *abi.AuthorizeRequest) (abi.Decision, error) {
	s, err := e.slot(name)
	if err != nil {
		return abi.Refuse("policy " + name + " unavailable"), err
	}
	var d abi.Decision
	err = e.decide(ctx, s, func(in *instance) api.Function { return in.authz }, req, func(_ *version, _, out []byte) error {
		var err error
		if d, err = abi.ParseDecision(out); err == nil {
			err = d.Validate()
		}
		return err
	})
	if err != nil {
		return abi.Refuse("policy " + name + " unavailable"), err
	}
	return d, nil
}

// request is a message the host sends: *abi.LookupRequest or
// *abi.AuthorizeRequest.
type request interface{ Append([]byte) []byte }

// slot returns the named policy.
func (e *Engine) slot(name string) (*slot, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	s := (*e.slots.Load())[name]
	if s == nil {
		return nil, fmt.Errorf("wasm: policy %q: %w", name, ErrNoPolicy)
	}
	return s, nil
}

func (e *Engine) failRoute(name string) abi.Route {
	r := e.cfg.FailRoute
	r.Endpoints = slices.Clip(r.Endpoints)
	if r.Kind == abi.RouteDeny && r.Reason == "" {
		r.Reason = "policy " + name + " unavailable"
	}
	return r
}

// decide runs one decision on the active version of s: it encodes req,
// calls the export fn picks, and hands the result to parse, with the
// version that answered and the encoded request, while the instance is
// held. Every failure is counted and logged here.
func (e *Engine) decide(ctx context.Context, s *slot, fn func(*instance) api.Function, req request, parse func(v *version, msg, out []byte) error) error {
	s.stats.calls.Add(1)
	v := s.acquire()
	if v == nil {
		return e.failed(s, nil, fmt.Errorf("wasm: policy %q: no version loaded: %w", s.name, ErrNoPolicy))
	}
	defer v.release()
	if v.backingOff() {
		return e.failed(s, v, fmt.Errorf("wasm: policy %s v%d: %w", s.name, v.meta.Seq, ErrBackoff))
	}
	w := wait{ctx: ctx, e: e}
	err := e.startGuest(&w, s.name)
	if err == nil {
		err = e.decideOn(v, &w, fn, req, parse)
		e.endGuest()
	}
	w.stop()
	if err != nil {
		return e.failed(s, v, err)
	}
	v.succeeded()
	return nil
}

// decideOn runs a decision on an instance of v; the caller holds an
// executor for the whole decision (exec.go).
func (e *Engine) decideOn(v *version, w *wait, fn func(*instance) api.Function, req request, parse func(v *version, msg, out []byte) error) error {
	in, err := v.get(w)
	if err != nil {
		return err
	}
	in.scratch = req.Append(in.scratch[:0])
	out, err := in.call(fn(in), in.scratch)
	if err == nil {
		if perr := parse(v, in.scratch, out); perr != nil {
			err = &ResultError{Policy: v.slot.name, Version: v.meta.Seq, Cause: perr}
		}
	}
	v.put(in, err)
	return err
}

// acquire returns the active version with a reference held, or nil.
func (s *slot) acquire() *version {
	for {
		v := s.cur.Load()
		if v == nil || v.acquire() {
			return v
		}
		// v was swapped out and closed between the load and the acquire:
		// the slot holds a newer one.
	}
}

// failed counts and logs a failed decision and returns err. v is nil when
// no version was loaded.
func (e *Engine) failed(s *slot, v *version, err error) error {
	st := &s.stats
	st.failures.Add(1)
	var (
		trap    *TrapError
		timeout *TimeoutError
		result  *ResultError
	)
	switch {
	case errors.As(err, &timeout):
		st.timeouts.Add(1)
		v.crashed()
	case errors.As(err, &trap):
		st.traps.Add(1)
		v.crashed()
	case errors.As(err, &result) && result.Code != abi.CodeOK:
		st.errors.Add(1)
	case errors.As(err, &result):
		st.invalid.Add(1)
	case errors.Is(err, ErrBackoff):
		st.backoffs.Add(1)
	default:
		st.unavailable.Add(1)
	}
	// At most one record per policy per second, with the count of the
	// others, so that a broken policy under load does not flood the log.
	now := e.cfg.Now().UnixNano()
	last := s.lastLog.Load()
	if now-last < 1e9 || !s.lastLog.CompareAndSwap(last, now) {
		s.suppressed.Add(1)
		return err
	}
	log := e.cfg.Logger.With("policy", s.name)
	if v != nil {
		log = v.log
	}
	log.Warn("policy failed: failing closed", "err", err, "suppressed", s.suppressed.Swap(0))
	return err
}
