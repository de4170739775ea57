package gateway

import (
	"context"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
)

// Via is the channel a request to authorize arrives by. Policies see it as
// the asker's label "via" (String).
type Via uint8

// Channels.
const (
	ViaLocal  Via = iota // this host
	ViaLink              // a peer gateway, over a link
	ViaPublic            // the public EPMD or a TLS termination port
	ViaRemote            // a remote query with a client certificate
	ViaSite              // a gateway of this site (an agent), over a site-internal link
)

// String returns the label value: "local", "link", "public", "remote" or
// "site".
func (v Via) String() string {
	switch v {
	case ViaLink:
		return "link"
	case ViaPublic:
		return "public"
	case ViaRemote:
		return "remote"
	case ViaSite:
		return "site"
	}
	return "local"
}

// Router decides routes and authorizations, in the ABI's terms: the
// uploaded policies, or the built-in router (the config file's routes and
// rules). A route or decision a Router returns has been validated.
type Router interface {
	Lookup(ctx context.Context, req *abi.LookupRequest) abi.Route
	Authorize(ctx context.Context, via Via, req *abi.AuthorizeRequest) abi.Decision
}

// routerSwitch is the active Router, swapped atomically (SetRouter); it is
// itself a Router, which the gateway's parts hold.
type routerSwitch struct {
	p atomic.Pointer[routerBox]
}

// routerBox lets an interface value be stored atomically.
type routerBox struct{ Router }

func (s *routerSwitch) set(r Router) { s.p.Store(&routerBox{r}) }

// Lookup implements Router with the active router.
func (s *routerSwitch) Lookup(ctx context.Context, req *abi.LookupRequest) abi.Route {
	return s.p.Load().Lookup(ctx, req)
}

// Authorize implements Router with the active router.
func (s *routerSwitch) Authorize(ctx context.Context, via Via, req *abi.AuthorizeRequest) abi.Decision {
	return s.p.Load().Authorize(ctx, via, req)
}

// staticRoute is a route of the config file, compiled.
type staticRoute struct {
	match string
	route abi.Route
}

// remoteRule lets the identities matching identity see the nodes matching
// nodes, and list them when list is set.
type remoteRule struct {
	identity string
	nodes    []string
	list     bool
}

// staticRouter is the built-in policy: the routes of the config file,
// then the local registry for this host's names; and the config file's
// rules for authorizations.
type staticRouter struct {
	routes      []staticRoute // sorted by priority, stable
	peers       map[string]bool
	export      []string // public.export
	publicNames bool     // public.names
	remote      []remoteRule
}

func newStaticRouter(cfg Config) *staticRouter {
	r := &staticRouter{peers: map[string]bool{}, export: slices.Clone(cfg.Public.Export), publicNames: cfg.Public.Names}
	rcs := slices.Clone(cfg.Routes)
	slices.SortStableFunc(rcs, func(a, b RouteConfig) int { return b.Priority - a.Priority })
	for _, rc := range rcs {
		rt := abi.Route{Options: abi.Options{
			LivenessTimeoutMS: uint32(rc.Liveness.Std().Milliseconds()), TickMS: uint32(rc.Tick.Std().Milliseconds()),
			Priority: int32(rc.Priority), Filter: rc.Filter,
		}}
		switch {
		case rc.Deny != "":
			rt.Kind, rt.Reason = abi.RouteDeny, rc.Deny
		case rc.Site == "" || rc.Site == routeSiteLocal:
			rt.Kind = abi.RouteLocal
		default:
			rt.Kind, rt.Site, rt.Transport = abi.RouteVia, rc.Site, rc.Transport
			if rc.Via != "" {
				rt.Site = rc.Via // the next hop: the transit site's routes lead on
			}
		}
		r.routes = append(r.routes, staticRoute{match: rc.Match, route: rt})
	}
	for _, p := range cfg.Peers {
		r.peers[p.Site] = true
	}
	for _, rule := range cfg.Remote.Allow {
		r.remote = append(r.remote, remoteRule{identity: rule.Identity, nodes: slices.Clone(rule.Nodes), list: rule.List})
	}
	return r
}

// matchNode matches a shell pattern against a full node name; a pattern
// without '@' matches the name part only.
func matchNode(pattern, node string) bool {
	if !strings.Contains(pattern, "@") {
		node, _ = epmd.SplitNode(node)
	}
	ok, _ := path.Match(pattern, node)
	return ok
}

// Lookup implements Router: the first route that matches, else this
// host's registry for names of this host, else no route.
func (r *staticRouter) Lookup(_ context.Context, req *abi.LookupRequest) abi.Route {
	node := req.Node()
	for _, sr := range r.routes {
		if matchNode(sr.match, node) {
			return sr.route
		}
	}
	if req.LocalHost {
		return abi.Local()
	}
	return abi.None()
}

// Authorize implements Router with the rules of the config file:
//   - peer gateways may reach, look up and list this site's nodes, and
//     reach through this site what its routes lead to;
//   - the agents of this site may reach what the routes lead to;
//   - over the public edge, nodes matching public.export may be looked up
//     and reached, and listed when public.names is set;
//   - remote clients may do what the remote.allow rule of their identity
//     says: look up and reach the nodes it names, list them with list;
//     remote.allow applies only to identities remote.client_ca verified,
//     never to the same names under public.client_ca;
//   - this host may register.
func (r *staticRouter) Authorize(_ context.Context, via Via, req *abi.AuthorizeRequest) abi.Decision {
	listing := req.Action == abi.ActionList && !req.Lookup
	switch via {
	case ViaSite:
		// The agents of this site: what their routes lead to, this edge
		// carries on.
		return abi.Allow()
	case ViaLink:
		if r.peers[req.Asker.Site] {
			return abi.Allow()
		}
		return abi.Refuse("not a configured peer")
	case ViaPublic:
		if listing && !r.publicNames {
			return abi.Refuse("NAMES is off on the public EPMD")
		}
		if listing && req.Node == "" {
			return abi.Allow()
		}
		if req.Action == abi.ActionRegister {
			return abi.Refuse("no registration from outside")
		}
		for _, p := range r.export {
			if matchNode(p, req.Node) {
				return abi.Allow()
			}
		}
		// A caller whose certificate remote.client_ca signs may also reach
		// what the remote rules let its identity see; the same name under
		// another root (public.client_ca) is someone else.
		if req.Action == abi.ActionReach && req.Asker.HasRoot(abi.RootRemote) && r.remoteAllows(req.Asker.Identity, req.Node) {
			return abi.Allow()
		}
		return abi.Refuse("not exported")
	case ViaRemote:
		identity := req.Asker.Identity
		if !req.Asker.HasRoot(abi.RootRemote) {
			return abi.Refuse("identity " + identity + " is not verified by remote.client_ca")
		}
		for _, rule := range r.remote {
			if ok, _ := path.Match(rule.identity, identity); !ok {
				continue
			}
			if listing && !rule.list {
				return abi.Refuse("identity " + identity + " may not list names")
			}
			if req.Node == "" {
				return abi.Allow()
			}
			for _, p := range rule.nodes {
				if matchNode(p, req.Node) {
					return abi.Allow()
				}
			}
		}
		return abi.Refuse("no remote rule lets identity " + identity + " see " + req.Node)
	}
	if req.Action == abi.ActionRegister {
		return abi.Allow()
	}
	return abi.Refuse("unknown channel")
}

// remoteAllows reports whether a remote rule lets identity see target.
func (r *staticRouter) remoteAllows(identity, target string) bool {
	for _, rule := range r.remote {
		if ok, _ := path.Match(rule.identity, identity); !ok {
			continue
		}
		for _, p := range rule.nodes {
			if matchNode(p, target) {
				return true
			}
		}
	}
	return false
}
