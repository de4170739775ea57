package gateway

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/wasm"
)

// Policy names the gateway consults, by default: uploads under these
// names decide lookups and authorizations.
const (
	DefaultLookupPolicy    = "lookup"
	DefaultAuthorizePolicy = "authorize"
)

// policyRouter asks the uploaded WebAssembly policies, and the built-in
// router (the config file's routes and rules) for what no policy answers:
// a policy not uploaded, or one that does not implement a decision. A
// policy that fails fails closed (a denial, or, with policy.on_failure:
// default, the built-in answer); the engine has logged and counted it.
type policyRouter struct {
	eng       *wasm.Engine
	lookup    string
	authorize string
	fallback  *staticRouter
	onFailure string
	// installed is the set of policy names with an upload; the admin API
	// updates it.
	installed atomic.Pointer[map[string]bool]
}

func newPolicyRouter(eng *wasm.Engine, cfg Config) *policyRouter {
	p := &policyRouter{
		eng: eng, lookup: cfg.Policy.Lookup, authorize: cfg.Policy.Authorize,
		fallback: newStaticRouter(cfg), onFailure: cfg.Policy.OnFailure,
	}
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
}

func (p *policyRouter) has(name string) bool { return (*p.installed.Load())[name] }

// Lookup implements Router.
func (p *policyRouter) Lookup(ctx context.Context, in LookupInput) Route {
	if !p.has(p.lookup) {
		return p.fallback.Lookup(ctx, in)
	}
	req := lookupRequest(in)
	r, err := p.eng.Lookup(ctx, p.lookup, &req)
	if retryable(err) {
		r, err = p.eng.Lookup(ctx, p.lookup, &req)
	}
	if err != nil && (errors.Is(err, errors.ErrUnsupported) || p.onFailure == onFailureDefault) {
		return p.fallback.Lookup(ctx, in)
	}
	return fromABIRoute(r)
}

// lookupRequest is the policy's question for a lookup.
func lookupRequest(in LookupInput) abi.LookupRequest {
	req := abi.LookupRequest{
		Name: in.Name, Host: in.Host, Accept: in.Accept, LocalHost: in.LocalHost, Registered: in.Registered,
		Asker: abi.Asker{Node: in.Asker, Site: in.AskerSite, Identity: in.Identity},
	}
	for _, ep := range in.Local {
		req.Local = append(req.Local, toABIEndpoint(ep))
	}
	return req
}

// Authorize implements Router.
func (p *policyRouter) Authorize(ctx context.Context, in AuthInput) (bool, string) {
	if !p.has(p.authorize) {
		return p.fallback.Authorize(ctx, in)
	}
	req := abi.AuthorizeRequest{Node: in.Target, Asker: abi.Asker{Site: in.Site, Identity: in.Identity, Node: in.Caller}}
	if ap, err := netip.ParseAddrPort(in.Addr); err == nil {
		req.Asker.Addr = ap
	}
	switch in.Action {
	case ActionReach:
		req.Action = abi.ActionReach
	case ActionRegister:
		req.Action = abi.ActionRegister
	default: // listing and looking up are both about seeing a name
		req.Action = abi.ActionList
	}
	req.Asker.Labels = append(req.Asker.Labels, abi.Label{Key: "via", Value: in.Via})
	d, err := p.eng.Authorize(ctx, p.authorize, &req)
	if retryable(err) {
		d, err = p.eng.Authorize(ctx, p.authorize, &req)
	}
	if err != nil && (errors.Is(err, errors.ErrUnsupported) || p.onFailure == onFailureDefault) {
		return p.fallback.Authorize(ctx, in)
	}
	return d.Allow, d.Reason
}

// retryable reports a failure worth one more try on a fresh instance: a
// call cut off at its deadline. The deadline is wall-clock time, which a
// busy host can spend before the guest runs at all; a policy that really
// runs away is cut off again, and fails closed, at twice the deadline.
func retryable(err error) bool {
	var te *wasm.TimeoutError
	return errors.As(err, &te)
}

func toABIEndpoint(ep epmd.Endpoint) abi.Endpoint {
	return abi.Endpoint{
		Proto: ep.Proto, Port: ep.Port, Path: ep.Path, Family: abi.Family(ep.Family), Addr: ep.Addr,
		HighVsn: ep.HighVsn, LowVsn: ep.LowVsn, Extra: ep.Extra, Protocol: ep.Protocol, NodeType: ep.NodeType,
	}
}

func fromABIEndpoint(ep abi.Endpoint) epmd.Endpoint {
	fam := epmd.Family(ep.Family)
	if fam == epmd.FamilyUnspec {
		fam = epmd.FamilyInet
	}
	high, low := ep.HighVsn, ep.LowVsn
	if high == 0 {
		high = 6
	}
	if low == 0 {
		low = 6
	}
	nt := ep.NodeType
	if nt == 0 {
		nt = epmd.NodeTypeNormal
	}
	return epmd.Endpoint{Transport: epmd.Transport{
		Proto: ep.Proto, Port: ep.Port, Path: ep.Path, Family: fam, Addr: ep.Addr,
		HighVsn: high, LowVsn: low, Extra: ep.Extra, Protocol: ep.Protocol,
	}, NodeType: nt}
}

// fromABIRoute turns a policy's route into the gateway's. A local route
// without endpoints answers with the registry's endpoints of the name,
// whatever the host part: a policy may alias names to this host.
func fromABIRoute(r abi.Route) Route {
	rt := Route{
		Liveness: time.Duration(r.Options.LivenessTimeoutMS) * time.Millisecond,
		Tick:     time.Duration(r.Options.TickMS) * time.Millisecond,
		Priority: int(r.Options.Priority),
	}
	switch r.Kind {
	case abi.RouteLocal:
		rt.Kind = RouteLocal
		for _, ep := range r.Endpoints {
			rt.Endpoints = append(rt.Endpoints, fromABIEndpoint(ep))
		}
	case abi.RouteVia:
		rt.Kind, rt.Site, rt.Transport = RouteVia, r.Site, r.Transport
	default:
		rt.Kind, rt.Reason = RouteDeny, r.Reason
		if rt.Reason == "" {
			rt.Reason = "denied by policy"
		}
	}
	return rt
}
