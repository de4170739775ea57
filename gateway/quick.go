package gateway

import (
	"context"

	"github.com/distgate/distgate/abi"
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
	// LookupQuick answers req if it can without waiting; ok false asks
	// Lookup.
	LookupQuick(req *abi.LookupRequest) (rt abi.Route, ok bool)
}

// LookupQuick implements quickRouter with the active router.
func (s *routerSwitch) LookupQuick(req *abi.LookupRequest) (abi.Route, bool) {
	qr, ok := s.p.Load().Router.(quickRouter)
	if !ok {
		return abi.Route{}, false
	}
	return qr.LookupQuick(req)
}

// LookupQuick implements quickRouter: the built-in router never waits.
func (r *staticRouter) LookupQuick(req *abi.LookupRequest) (abi.Route, bool) {
	return r.Lookup(context.Background(), req), true
}

// LookupQuick implements quickRouter: the built-in router when no lookup
// policy is uploaded, or the routes the policy allowed to be reused.
func (p *policyRouter) LookupQuick(req *abi.LookupRequest) (abi.Route, bool) {
	if !p.has(p.lookup) {
		if qr, ok := p.fallback.(quickRouter); ok {
			return qr.LookupQuick(req)
		}
		return abi.Route{}, false
	}
	r, ok := p.eng.CachedLookup(p.lookup, req) // false at once when the policy never allowed reuse
	if !ok {
		return abi.Route{}, false
	}
	return withDenyReason(r), true
}

// ResolveQuick implements epmd.QuickResolver.
func (r *resolver) ResolveQuick(q epmd.Query) (epmd.Answer, bool) {
	qr, ok := r.router.(quickRouter)
	if !ok {
		return epmd.Answer{}, false
	}
	q = r.siteQuery(q)
	req := lookupRequest(q)
	rt, ok := qr.LookupQuick(&req)
	if !ok {
		return epmd.Answer{}, false
	}
	ans := r.answer(q, req.Node(), rt)
	r.metrics.lookups.WithLabelValues(rt.Kind.String(), ans.Status.String()).Inc()
	return ans, true
}
