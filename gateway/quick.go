package gateway

import (
	"context"

	"github.com/distgate/distgate/epmd"
)

// Lookups answered at once. The EPMD answers a LOOKUP_X on the goroutine
// that accepts its connection when the gateway can answer it without
// waiting (epmd.QuickResolver): from the built-in router, or from a route
// the lookup policy allowed to be reused (abi.Route.CacheMS); a route via
// a peer site gets its proxy port there too (a listener opened, or one
// found). Any other lookup needs a policy call: a connection goroutine
// answers it through Resolve.

// quickRouter is a Router that can answer some lookups without waiting.
type quickRouter interface {
	// LookupQuick answers in if it can without waiting; ok false asks
	// Lookup.
	LookupQuick(in LookupInput) (rt Route, ok bool)
}

// LookupQuick implements quickRouter: the built-in router never waits.
func (r *staticRouter) LookupQuick(in LookupInput) (Route, bool) {
	return r.Lookup(context.Background(), in), true
}

// LookupQuick implements quickRouter: the built-in router when no lookup
// policy is uploaded, or the routes the policy allowed to be reused.
func (p *policyRouter) LookupQuick(in LookupInput) (Route, bool) {
	if !p.has(p.lookup) {
		return p.fallback.LookupQuick(in)
	}
	if !p.eng.Reuses(p.lookup) {
		return Route{}, false
	}
	req := lookupRequest(in)
	r, ok := p.eng.CachedLookup(p.lookup, &req)
	if !ok {
		return Route{}, false
	}
	return fromABIRoute(r), true
}

// ResolveQuick implements epmd.QuickResolver.
func (g *Gateway) ResolveQuick(q epmd.Query) (epmd.Answer, bool) {
	qr, ok := g.routerNow().(quickRouter)
	if !ok {
		return epmd.Answer{}, false
	}
	in := lookupInput(q)
	rt, ok := qr.LookupQuick(in)
	if !ok {
		return epmd.Answer{}, false
	}
	kind, ans := g.answer(q, in.Node, rt)
	g.metrics.lookups.WithLabelValues(kind.String(), ans.Status.String()).Inc()
	return ans, true
}
