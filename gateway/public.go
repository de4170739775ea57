package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/terminate"
)

// publicEPMD is the policy of the internet-facing EPMD (epmd.Public): its
// own admission limiter, PORT_PLEASE2 for exported names answered with
// their TLS termination port, NAMES only when allowed, and refusals
// logged with their reason (a flood summarized).
type publicEPMD struct {
	router   Router
	nodes    *nodes
	term     *terminate.Ports
	limit    *admit.Limiter
	metrics  *metrics
	refusals *admit.Log
	log      *slog.Logger
}

// Admit implements epmd.Public: when every connection is taken, the oldest
// one whose request is not in yet is closed to make room.
func (p *publicEPMD) Admit(peer netip.AddrPort, c net.Conn) (epmd.Admission, bool) {
	t, err := p.limit.Admit(peer.Addr(), time.Now(), func() {
		c.Close()
		p.Refused(peer, "evicted: every connection was taken")
	})
	if err != nil {
		p.Refused(peer, err.Error())
		return nil, false
	}
	return t, true
}

// PortPlease implements epmd.Public.
func (p *publicEPMD) PortPlease(ctx context.Context, peer netip.AddrPort, name string) *epmd.PortInfo {
	node, err := p.nodes.canonical(name)
	if err != nil || strings.Contains(name, "@") {
		p.Refused(peer, fmt.Sprintf("PORT_PLEASE2 %s: not a node name of this host", name))
		return nil
	}
	d := p.router.Authorize(ctx, ViaPublic, &abi.AuthorizeRequest{Action: abi.ActionList, Lookup: true, Node: node, Asker: abi.Asker{Addr: peer}})
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
		if !list(p.nodes.canonicalOf(n.Name, n.Host)).Allow {
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

// Refused implements epmd.Public: counted by kind, and logged as a flood
// allows (admit.Log).
func (p *publicEPMD) Refused(peer netip.AddrPort, what string) {
	kind, _, _ := strings.Cut(what, ":")
	if strings.HasPrefix(kind, "PORT_PLEASE2") {
		kind = "PORT_PLEASE2"
	}
	if strings.HasPrefix(kind, "unknown command") { // one label, not one per byte
		kind = "unknown command"
	}
	p.metrics.publicRefusals.WithLabelValues(kind).Inc()
	p.refusals.Refused(peer.Addr(), kind, "what", what)
}

// nonLocalEPMD implements epmd.NonLocalPolicy with the router. A peer on
// another host that asks the classic EPMD (listening beyond loopback) for
// NAMES_X or LOOKUP_X comes from the network without credentials, as on
// the public EPMD: it is authorized as ViaPublic, so the built-in policy
// lists nothing unless public.names is set and shows exported names only.
type nonLocalEPMD struct {
	router Router
	nodes  *nodes // names this host's nodes in their one form
	log    *slog.Logger

	mu     sync.Mutex // guards logged
	logged time.Time  // the last refusal logged: at most one a second
}

// MayList implements epmd.NonLocalPolicy. A refused listing or lookup is
// logged; a name left out of a listing is not.
func (n *nonLocalEPMD) MayList(ctx context.Context, peer netip.AddrPort, node string, lookup bool) bool {
	if node != "" {
		// A node of this host by its one name; another host's as asked.
		if full, err := n.nodes.canonical(node); err == nil {
			node = full
		}
	}
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
