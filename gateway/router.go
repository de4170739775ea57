package gateway

import (
	"context"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/distgate/distgate/epmd"
)

// RouteKind says where a node name leads.
type RouteKind int

// Route kinds.
const (
	RouteNone  RouteKind = iota // nothing known: the asker resolves the host itself
	RouteLocal                  // a node of this host: answer from the registry
	RouteVia                    // a node behind a peer gateway: relay through a link
	RouteDeny                   // refused, with a reason
)

// String names the route kind.
func (k RouteKind) String() string {
	return [...]string{"none", "local", "via", "deny"}[k]
}

// Route is a lookup decision.
type Route struct {
	Kind      RouteKind
	Site      string // RouteVia: the peer site
	Transport string // RouteVia: "quic" or "tls"; "" = the peer's first
	Reason    string // RouteDeny
	// Endpoints, for RouteLocal, replaces the registry's answer when set.
	Endpoints []epmd.Endpoint
	Liveness  time.Duration
	Tick      time.Duration
	Priority  int
}

// LookupInput is what a router is told about a lookup.
type LookupInput struct {
	Node       string // name@host as asked
	Name, Host string
	LocalHost  bool // Host names this host
	Accept     []string
	Asker      string // the asking node, when it told
	AskerSite  string // the peer site that asked (remote queries)
	Identity   string // the asker's certificate identity (remote queries)
	Local      []epmd.Endpoint
	Registered bool
}

// Action is what an identity asks to do.
type Action int

// Actions to authorize.
const (
	ActionReach    Action = iota // open a distribution connection to a node
	ActionList                   // list names (remote NAMES)
	ActionLookup                 // look a node up (remote lookup)
	ActionRegister               // register a name
)

// String names the action.
func (a Action) String() string {
	return [...]string{"reach", "list", "lookup", "register"}[a]
}

// Channels a request to authorize arrives by.
const (
	ViaLink   = "link"   // a peer gateway, over a link
	ViaPublic = "public" // the public EPMD or a TLS termination port
	ViaRemote = "remote" // a remote query with a client certificate
	ViaLocal  = "local"  // this host
)

// AuthInput is what a router is told about a request to authorize.
type AuthInput struct {
	Action   Action
	Via      string // ViaLink, ViaPublic, ViaRemote or ViaLocal
	Site     string // the peer site asking, for links
	Identity string // the client certificate identity
	Caller   string // the calling node, for ActionReach
	Target   string // the node concerned
	Addr     string // the remote address
}

// Router decides routes and authorizations: the active policy, or the
// built-in static table.
type Router interface {
	Lookup(ctx context.Context, in LookupInput) Route
	Authorize(ctx context.Context, in AuthInput) (ok bool, reason string)
}

// staticRouter is the default policy: the routes of the config file, then
// the local registry for this host's names.
type staticRouter struct {
	routes []RouteConfig // sorted by priority, stable
	peers  map[string]PeerConfig
	public PublicConfig
	remote []RemoteRule
}

func newStaticRouter(cfg Config) *staticRouter {
	r := &staticRouter{routes: slices.Clone(cfg.Routes), peers: map[string]PeerConfig{}, public: cfg.Public, remote: cfg.Remote.Allow}
	slices.SortStableFunc(r.routes, func(a, b RouteConfig) int { return b.Priority - a.Priority })
	for _, p := range cfg.Peers {
		r.peers[p.Site] = p
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

// Lookup implements Router.
func (r *staticRouter) Lookup(_ context.Context, in LookupInput) Route {
	for _, rc := range r.routes {
		if !matchNode(rc.Match, in.Node) {
			continue
		}
		rt := Route{Liveness: rc.Liveness.Std(), Tick: rc.Tick.Std(), Priority: rc.Priority}
		switch {
		case rc.Deny != "":
			rt.Kind, rt.Reason = RouteDeny, rc.Deny
		case rc.Site == "" || rc.Site == routeSiteLocal:
			rt.Kind = RouteLocal
		default:
			rt.Kind, rt.Site, rt.Transport = RouteVia, rc.Site, rc.Transport
		}
		return rt
	}
	if in.LocalHost {
		return Route{Kind: RouteLocal}
	}
	return Route{Kind: RouteNone}
}

// Authorize implements Router with the rules of the config file:
//   - peer gateways may reach, look up and list this site's nodes;
//   - over the public edge, nodes matching public.export may be looked up
//     and reached, and listed when public.names is set;
//   - remote clients may do what the remote.allow rule of their identity
//     says;
//   - this host may register.
func (r *staticRouter) Authorize(_ context.Context, in AuthInput) (bool, string) {
	switch in.Via {
	case ViaLink:
		if _, ok := r.peers[in.Site]; ok {
			return true, ""
		}
		return false, "not a configured peer"
	case ViaPublic:
		if in.Action == ActionList && !r.public.Names {
			return false, "NAMES is off on the public EPMD"
		}
		if in.Target == "" && in.Action == ActionList {
			return true, ""
		}
		if in.Action == ActionRegister {
			return false, "no registration from outside"
		}
		for _, p := range r.public.Export {
			if matchNode(p, in.Target) {
				return true, ""
			}
		}
		// A caller with a verified client certificate may also reach what
		// the remote rules let its identity see.
		if in.Action == ActionReach && in.Identity != "" && r.remoteAllows(in.Identity, in.Target) {
			return true, ""
		}
		return false, "not exported"
	case ViaRemote:
		for _, rule := range r.remote {
			if ok, _ := path.Match(rule.Identity, in.Identity); !ok {
				continue
			}
			if in.Action == ActionList && !rule.List {
				return false, "identity " + in.Identity + " may not list names"
			}
			if in.Target == "" {
				return true, ""
			}
			for _, p := range rule.Nodes {
				if matchNode(p, in.Target) {
					return true, ""
				}
			}
		}
		return false, "no remote rule lets identity " + in.Identity + " see " + in.Target
	}
	if in.Action == ActionRegister {
		return true, ""
	}
	return false, "unknown channel"
}

// remoteAllows reports whether a remote rule lets identity see target.
func (r *staticRouter) remoteAllows(identity, target string) bool {
	for _, rule := range r.remote {
		if ok, _ := path.Match(rule.Identity, identity); !ok {
			continue
		}
		for _, p := range rule.Nodes {
			if matchNode(p, target) {
				return true
			}
		}
	}
	return false
}
