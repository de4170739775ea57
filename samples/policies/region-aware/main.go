// Command region-aware is a distgate lookup policy: a node that is not
// registered here is reached through the peer site serving the asker's
// region, a label the gateway attaches to the asker, with a fallback site.
// See README.md.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/abi/guest"
)

// Config is the policy's configuration blob.
type Config struct {
	Label     string            `json:"label"`     // the asker label to read; default "region"
	Sites     map[string]string `json:"sites"`     // label value -> peer site
	Fallback  string            `json:"fallback"`  // site for askers without a known label; "" denies them
	Transport string            `json:"transport"` // "quic", "tls", or "" for the site's default
	// RemoteOnly routes even names registered here to a peer site. By
	// default a node registered on this host is answered locally.
	RemoteOnly bool   `json:"remote_only"`
	TickMS     uint32 `json:"tick_ms"` // tick of the routes to peer sites; 0 = default
}

// Policy is a parsed configuration.
type Policy struct{ c Config }

// New parses and checks a configuration.
func New(config []byte) (*Policy, error) {
	var c Config
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("region-aware: config: %w", err)
	}
	if c.Label == "" {
		c.Label = "region"
	}
	if len(c.Sites) == 0 && c.Fallback == "" {
		return nil, fmt.Errorf("region-aware: config: no sites and no fallback")
	}
	if c.Transport != "" && c.Transport != abi.TransportQUIC && c.Transport != abi.TransportTLS {
		return nil, fmt.Errorf("region-aware: config: transport %q: want quic or tls", c.Transport)
	}
	return &Policy{c: c}, nil
}

// Lookup answers locally for a node registered here, and otherwise picks
// the site of the asker's region.
func (p *Policy) Lookup(req abi.LookupRequest) abi.Route {
	if req.LocalHost && req.Registered && !p.c.RemoteOnly {
		return abi.Local()
	}
	region, _ := req.Asker.Label(p.c.Label)
	site, ok := p.c.Sites[region]
	if !ok {
		site = p.c.Fallback
	}
	if site == "" {
		return abi.Deny(fmt.Sprintf("region-aware: no site serves %s %q", p.c.Label, region))
	}
	r := abi.Via(site, p.c.Transport)
	r.Options.TickMS = p.c.TickMS
	return r
}

var _ = guest.Register(func(config []byte) (guest.Policy, error) {
	p, err := New(config)
	if err != nil {
		return guest.Policy{}, err
	}
	return guest.Policy{Lookup: p.Lookup}, nil
})

func main() {}
