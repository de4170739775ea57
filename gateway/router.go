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

func (a Action) String() string {
	return [...]string{"reach", "list", "lookup", "register"}[a]
}

// AuthInput is what a router is told about a request to authorize.
type AuthInput struct {
	Action   Action
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
}

func newStaticRouter(cfg Config) *staticRouter {
	r := &staticRouter{routes: slices.Clone(cfg.Routes), peers: map[string]PeerConfig{}}
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

// Authorize implements Router: peers configured in the file may reach and
// look up this site's nodes; listing names needs a policy.
func (r *staticRouter) Authorize(_ context.Context, in AuthInput) (bool, string) {
	switch in.Action {
	case ActionReach, ActionLookup:
		if _, ok := r.peers[in.Site]; ok {
			return true, ""
		}
		return false, "not a configured peer"
	case ActionRegister:
		return true, ""
	}
	return false, "listing names is off unless a policy allows it"
}
