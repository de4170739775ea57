package gateway

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/gateway/filtering"
	"github.com/distgate/distgate/wasm"
)

// policyRouter asks the uploaded WebAssembly policies, and the built-in
// router (the config file's routes and rules) for what no policy answers:
// a policy not uploaded, or one that does not implement a decision. A
// policy that fails fails closed; the engine has logged and counted it. A
// failing lookup policy is denied (or, with policy.on_failure: default,
// given the built-in route); a failing authorize policy always denies:
// the built-in rules would let in callers the policy was uploaded to keep
// out.
type policyRouter struct {
	eng       *wasm.Engine
	lookup    string // the policy that decides lookups
	authorize string // the policy that decides authorizations
	fallback  Router
	// fallbackOnFailure answers a failing lookup policy's routes with the
	// built-in router's (policy.on_failure: default). It never applies to
	// authorizations.
	fallbackOnFailure bool
	// installed is the set of policy names with an upload; the admin API
	// updates it.
	installed atomic.Pointer[map[string]bool]
	// changed, when set, is told of every refresh: the filter's cached
	// verdicts go.
	changed func()
	// timed, when set, is told how long each policy decision took.
	timed func(policy, decision string, d time.Duration)
}

func newPolicyRouter(eng *wasm.Engine, lookup, authorize string, fallback Router, fallbackOnFailure bool) *policyRouter {
	p := &policyRouter{eng: eng, lookup: lookup, authorize: authorize, fallback: fallback, fallbackOnFailure: fallbackOnFailure}
	p.refresh()
	return p
}

// refresh reloads the set of installed policy names.
func (p *policyRouter) refresh() {
	m := map[string]bool{}
	for _, info := range p.eng.Policies() {
		m[info.Name] = true
	}
	p.installed.Store(&m)
	if p.changed != nil {
		p.changed()
	}
}

func (p *policyRouter) has(name string) bool { return (*p.installed.Load())[name] }

// Lookup implements Router.
func (p *policyRouter) Lookup(ctx context.Context, req *abi.LookupRequest) abi.Route {
	if !p.has(p.lookup) {
		return p.fallback.Lookup(ctx, req)
	}
	start := time.Now()
	r, err := p.eng.Lookup(ctx, p.lookup, req)
	if retryable(err) {
		r, err = p.eng.Lookup(ctx, p.lookup, req)
	}
	p.took(p.lookup, "lookup", start)
	if err != nil && (errors.Is(err, errors.ErrUnsupported) || p.fallbackOnFailure) {
		return p.fallback.Lookup(ctx, req)
	}
	return withDenyReason(r)
}

// withDenyReason gives a policy's denial without a reason one the asker
// can read.
func withDenyReason(r abi.Route) abi.Route {
	if r.Kind == abi.RouteDeny && r.Reason == "" {
		r.Reason = "denied by policy"
	}
	return r
}

// Authorize implements Router. The policy sees the channel as the asker's
// label "via".
func (p *policyRouter) Authorize(ctx context.Context, via Via, req *abi.AuthorizeRequest) abi.Decision {
	if !p.has(p.authorize) {
		return p.fallback.Authorize(ctx, via, req)
	}
	labeled := *req
	labeled.Asker.Labels = append(append([]abi.Label(nil), req.Asker.Labels...), abi.Label{Key: "via", Value: via.String()})
	start := time.Now()
	d, err := p.eng.Authorize(ctx, p.authorize, &labeled)
	if retryable(err) {
		d, err = p.eng.Authorize(ctx, p.authorize, &labeled)
	}
	p.took(p.authorize, "authorize", start)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return p.fallback.Authorize(ctx, via, req)
	case err != nil:
		return abi.Refuse("the authorize policy failed")
	}
	return d
}

// took reports a decision's time.
func (p *policyRouter) took(policy, decision string, start time.Time) {
	if p.timed != nil {
		p.timed(policy, decision, time.Since(start))
	}
}

// retryable reports a failure worth one more try on a fresh instance: a
// call cut off at its deadline. The deadline is wall-clock time, which a
// busy host can spend before the guest runs at all; a policy that really
// runs away is cut off again, and fails closed, at twice the deadline.
func retryable(err error) bool {
	var te *wasm.TimeoutError
	return errors.As(err, &te)
}

// filterFailure is policy.filter_on_failure (validated).
func filterFailure(s string) filtering.Failure {
	if s == filterFailClose {
		return filtering.FailClose
	}
	return filtering.FailDeny
}
