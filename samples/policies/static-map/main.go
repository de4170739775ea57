// Command static-map is a distgate lookup policy: glob patterns on full
// node names map to a peer site and transport, to the local registry, or
// to a denial, from a JSON table given as the policy's configuration.
// See README.md.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/abi/guest"
)

// Config is the policy's configuration blob.
type Config struct {
	Routes  []Rule `json:"routes"`  // tried in order; the first match wins
	Default *Rule  `json:"default"` // when no rule matches; nil denies
	// CacheMS is how long the gateway may reuse a route for the same
	// lookup without asking the policy (abi.Route.CacheMS): a route here
	// depends on nothing but the name and the configuration. Absent means
	// DefaultCacheMS; 0 asks every time.
	CacheMS *uint32 `json:"cache_ms"`
}

// DefaultCacheMS is the reuse of a route when the configuration does not
// say: a minute, the most the gateway allows. A new configuration is a
// new version of the policy, which starts afresh.
const DefaultCacheMS = 60000

// Rule maps the node names matching Match to exactly one of Site, Local
// or Deny.
type Rule struct {
	Match     string `json:"match"`     // glob on "name@host" (path.Match syntax)
	Site      string `json:"site"`      // route via this peer site...
	Transport string `json:"transport"` // ...over "quic" or "tls" ("" = the site's default)
	Local     bool   `json:"local"`     // route to the local registry
	Deny      string `json:"deny"`      // deny, with this reason

	LivenessTimeoutMS uint32 `json:"liveness_timeout_ms"`
	TickMS            uint32 `json:"tick_ms"`
	Priority          int32  `json:"priority"`
}

// Map is a parsed configuration.
type Map struct {
	routes   []Rule
	matchers []glob // one per route
	def      *Rule
	cacheMS  uint32
}

// glob is a compiled pattern. Patterns made of literals and '*' (the usual
// case) are matched by their literal parts in order, in one pass; others
// by path.Match. The two agree on node names, which hold no '/'.
type glob struct {
	pattern string
	parts   []string // the literals between the stars; nil: use path.Match
}

func compileGlob(pattern string) glob {
	g := glob{pattern: pattern}
	if strings.ContainsAny(pattern, "?[\\/") {
		return g
	}
	g.parts = strings.Split(pattern, "*")
	return g
}

func (g glob) match(s string) bool {
	if g.parts == nil || strings.Contains(s, "/") {
		ok, _ := path.Match(g.pattern, s)
		return ok
	}
	if len(g.parts) == 1 {
		return s == g.parts[0]
	}
	first, last := g.parts[0], g.parts[len(g.parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, p := range g.parts[1 : len(g.parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

// New parses and checks a configuration.
func New(config []byte) (*Map, error) {
	var c Config
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("static-map: config: %w", err)
	}
	for i, r := range c.Routes {
		if _, err := path.Match(r.Match, ""); err != nil || r.Match == "" {
			return nil, fmt.Errorf("static-map: route %d: bad pattern %q", i, r.Match)
		}
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("static-map: route %d (%s): %w", i, r.Match, err)
		}
	}
	if c.Default != nil {
		if err := c.Default.check(); err != nil {
			return nil, fmt.Errorf("static-map: default: %w", err)
		}
	}
	m := &Map{routes: c.Routes, def: c.Default, cacheMS: DefaultCacheMS}
	if c.CacheMS != nil {
		m.cacheMS = *c.CacheMS
	}
	for _, r := range c.Routes {
		m.matchers = append(m.matchers, compileGlob(r.Match))
	}
	return m, nil
}

func (r *Rule) check() error {
	n := 0
	if r.Site != "" {
		n++
	}
	if r.Local {
		n++
	}
	if r.Deny != "" {
		n++
	}
	if n != 1 {
		return errors.New("want exactly one of site, local, deny")
	}
	if r.Transport != "" && r.Transport != abi.TransportQUIC && r.Transport != abi.TransportTLS {
		return fmt.Errorf("transport %q: want quic or tls", r.Transport)
	}
	return nil
}

// Lookup routes a node by the first rule whose pattern matches its name.
func (m *Map) Lookup(req abi.LookupRequest) abi.Route {
	rt := m.lookup(req.Node())
	rt.CacheMS = m.cacheMS
	return rt
}

func (m *Map) lookup(node string) abi.Route {
	for i := range m.routes {
		if m.matchers[i].match(node) {
			return m.routes[i].route()
		}
	}
	if m.def != nil {
		return m.def.route()
	}
	return abi.Deny("static-map: no route for " + node)
}

func (r *Rule) route() abi.Route {
	var rt abi.Route
	switch {
	case r.Site != "":
		rt = abi.Via(r.Site, r.Transport)
	case r.Local:
		rt = abi.Local()
	default:
		rt = abi.Deny(r.Deny)
	}
	rt.Options = abi.Options{LivenessTimeoutMS: r.LivenessTimeoutMS, TickMS: r.TickMS, Priority: r.Priority}
	return rt
}

var _ = guest.Register(func(config []byte) (guest.Policy, error) {
	m, err := New(config)
	if err != nil {
		return guest.Policy{}, err
	}
	return guest.Policy{Lookup: m.Lookup}, nil
})

func main() {}
