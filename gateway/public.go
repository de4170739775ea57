package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/terminate"
)

// publicEPMD is the policy of the internet-facing EPMD (epmd.Public): the
// edge limiter, PORT_PLEASE2 for exported names answered with their TLS
// termination port, NAMES only when allowed, and every refusal logged
// with its reason.
type publicEPMD struct {
	router  Router
	nodes   *nodes
	term    *terminate.Ports
	limit   *admit.Limiter
	metrics *metrics
	log     *slog.Logger

	mu     sync.Mutex           // guards logged
	logged map[string]time.Time // refusal log lines, at most one a second per reason and address
}

// Admit implements epmd.Public.
func (p *publicEPMD) Admit(peer netip.AddrPort) bool {
	ok, reason := p.limit.Admit(peer.Addr(), time.Now())
	if !ok {
		p.Refused(peer, reason)
	}
	return ok
}

// Done implements epmd.Public.
func (p *publicEPMD) Done(peer netip.AddrPort) { p.limit.Done(peer.Addr()) }

// PortPlease implements epmd.Public.
func (p *publicEPMD) PortPlease(ctx context.Context, peer netip.AddrPort, name string) *epmd.PortInfo {
	d := p.router.Authorize(ctx, ViaPublic, &abi.AuthorizeRequest{Action: abi.ActionList, Lookup: true, Node: name, Asker: abi.Asker{Addr: peer}})
	if !d.Allow {
		p.Refused(peer, fmt.Sprintf("PORT_PLEASE2 %s: %s", name, d.Reason))
		return nil
	}
	var info *epmd.PortInfo
	p.nodes.epmd.Registry(func(r *epmd.Registry) { info = r.PortPlease(name) })
	if info == nil {
		return nil
	}
	port, err := p.term.Port(name)
	if err != nil {
		p.log.Error("public PORT_PLEASE2", "name", name, "err", err)
		return nil
	}
	info.Port = uint16(port)
	return info
}

// Names implements epmd.Public: only when allowed, and only exported names.
func (p *publicEPMD) Names(ctx context.Context, peer netip.AddrPort) ([]epmd.NameEntry, bool) {
	list := func(node string) abi.Decision {
		return p.router.Authorize(ctx, ViaPublic, &abi.AuthorizeRequest{Action: abi.ActionList, Node: node, Asker: abi.Asker{Addr: peer}})
	}
	if d := list(""); !d.Allow {
		p.Refused(peer, "NAMES: "+d.Reason)
		return nil, false
	}
	var registered []epmd.NodeInfo
	p.nodes.epmd.Registry(func(r *epmd.Registry) { registered = r.Nodes() })
	var out []epmd.NameEntry
	for _, n := range registered {
		if !list(n.Name).Allow {
			continue
		}
		port, err := p.term.Port(n.Name)
		if err != nil {
			continue
		}
		out = append(out, epmd.NameEntry{Name: n.Name, Port: port})
	}
	return out, true
}

// Refused implements epmd.Public: logged, at most once a second for the
// same reason and address.
func (p *publicEPMD) Refused(peer netip.AddrPort, what string) {
	kind, _, _ := strings.Cut(what, ":")
	if strings.HasPrefix(kind, "PORT_PLEASE2") {
		kind = "PORT_PLEASE2"
	}
	if strings.HasPrefix(kind, "unknown command") { // one label, not one per byte
		kind = "unknown command"
	}
	p.metrics.publicRefusals.WithLabelValues(kind).Inc()
	key := peer.Addr().String() + " " + what
	now := time.Now()
	p.mu.Lock()
	last, seen := p.logged[key]
	if seen && now.Sub(last) < time.Second {
		p.mu.Unlock()
		return
	}
	if len(p.logged) > 10_000 {
		p.logged = map[string]time.Time{}
	}
	p.logged[key] = now
	p.mu.Unlock()
	p.log.Warn("public EPMD refused", "peer", peer.String(), "what", what)
}

// reachPolicy implements terminate.Policy with the router: a TLS caller
// reaches a node over the public edge.
type reachPolicy struct{ router Router }

// Reach implements terminate.Policy.
func (r reachPolicy) Reach(ctx context.Context, c terminate.Caller) (bool, string) {
	d := r.router.Authorize(ctx, ViaPublic, &abi.AuthorizeRequest{
		Action: abi.ActionReach, Node: c.Target, Asker: abi.Asker{Identity: c.Identity, Node: c.Node, Addr: c.Addr},
	})
	return d.Allow, d.Reason
}

// nonLocalEPMD implements epmd.NonLocalPolicy with the router. A peer on
// another host that asks the classic EPMD (listening beyond loopback) for
// NAMES_X or LOOKUP_X comes from the network without credentials, as on
// the public EPMD: it is authorized as ViaPublic, so the built-in policy
// lists nothing unless public.names is set and shows exported names only.
type nonLocalEPMD struct {
	router Router
	log    *slog.Logger

	mu     sync.Mutex // guards logged
	logged time.Time  // the last refusal logged: at most one a second
}

// MayList implements epmd.NonLocalPolicy. A refused listing or lookup is
// logged; a name left out of a listing is not.
func (n *nonLocalEPMD) MayList(ctx context.Context, peer netip.AddrPort, node string, lookup bool) bool {
	d := n.router.Authorize(ctx, ViaPublic, &abi.AuthorizeRequest{Action: abi.ActionList, Lookup: lookup, Node: node, Asker: abi.Asker{Addr: peer}})
	if d.Allow || (node != "" && !lookup) {
		return d.Allow
	}
	now := time.Now()
	n.mu.Lock()
	logIt := now.Sub(n.logged) >= time.Second
	if logIt {
		n.logged = now
	}
	n.mu.Unlock()
	if logIt {
		what := "NAMES_X"
		if lookup {
			what = "LOOKUP_X " + node
		}
		n.log.Warn("EPMD request from another host refused", "peer", peer.String(), "what", what, "reason", d.Reason)
	}
	return false
}
