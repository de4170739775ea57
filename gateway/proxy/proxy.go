// Package proxy serves the loopback proxy ports of remote nodes. A lookup
// of a node behind a peer gateway is answered with a proxy port (one per
// node, opened on first lookup, released once idle); a local node that
// connects to it is relayed, after its send_name has told who calls, over
// a link stream to the peer gateway, whose answer decides whether the
// relay starts.
package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/distgate/distgate/gateway/handshake"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/ports"
	"github.com/distgate/distgate/gateway/relay"
)

// Route is where a proxy port leads: the route of its node's last lookup.
type Route struct {
	Site      string         // the peer site
	Transport link.Transport // Auto: the peer's preference
	Liveness  time.Duration  // 0: the link layer's default
	Tick      time.Duration  // 0: no tick to the local node
}

// Callers tell who calls through a proxy port.
type Callers interface {
	// Verify reports whether c comes from the node of this host that
	// node (from the caller's send_name) names: the user that owns c's
	// peer socket registered that name with the EPMD. It returns the
	// node's canonical full name when it does.
	Verify(c net.Conn, node string) (name string, ok bool)
}

// Linker opens link streams to peers (a *link.Manager).
type Linker interface {
	Open(ctx context.Context, site string, t link.Transport, liveness time.Duration, hdr linkwire.Header, first []byte) (relay.Stream, link.Transport, error)
}

// Config is what the proxy ports use.
type Config struct {
	// Ports are the pool's settings: the loopback address, how many, when
	// idle, the logger. Its Name is the proxy's.
	Ports            ports.Config
	HandshakeTimeout time.Duration // for the caller's send_name, and the peer's answer
	// Callers verify callers' names; without it, no caller is verified.
	Callers Callers
	Links   Linker
	Relays  *relay.Table
	Bufs    *relay.Bufs
}

// Ports are the proxy ports.
type Ports struct {
	cfg  Config
	log  *slog.Logger
	pool *ports.Pool[Route]
}

// New starts the proxy ports (none is open until a lookup asks for one).
func New(cfg Config) *Ports {
	p := &Ports{cfg: cfg, log: cfg.Ports.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	pc := cfg.Ports
	pc.Name, pc.Logger = "proxy port", p.log
	p.pool = ports.New(pc, p.handle)
	return p
}

// Addr returns the loopback address the ports open on.
func (p *Ports) Addr() netip.Addr { return p.pool.Addr() }

// Port returns the proxy port of a remote node (its full name), opening
// it on first use for owner, the asker of the lookup (ports.Pool.Open);
// the route is refreshed on every lookup.
func (p *Ports) Port(target string, rt Route, owner ports.Owner) (int, error) {
	return p.pool.Open(target, rt, owner)
}

// handle relays one connection from a local node: it reads the node's
// send_name to learn who calls, opens a stream to the peer gateway with
// that message as its first bytes, and relays once the peer accepted.
func (p *Ports) handle(ctx context.Context, pp *ports.Port[Route], c net.Conn) {
	rt, target := pp.Value(), pp.Key()
	c.SetReadDeadline(time.Now().Add(p.cfg.HandshakeTimeout))
	frame, body, err := handshake.ReadFrame(c, 2, handshake.MaxSendName)
	if err != nil {
		p.log.Warn("relay refused: no send_name from the local node", "target", target, "err", err)
		c.Close()
		return
	}
	sn, err := handshake.ParseSendName(body)
	if err != nil {
		p.log.Warn("relay refused: bad send_name", "target", target, "err", err)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	// The peer is told the caller's name, and whether this gateway could
	// verify it: a send_name is what any local process may write.
	hdr := linkwire.Header{Kind: linkwire.KindRelay, Target: target, Caller: sn.Name, Liveness: rt.Liveness, Tick: rt.Tick}
	caller := relay.Unauthenticated
	if p.cfg.Callers != nil {
		if name, ok := p.cfg.Callers.Verify(c, sn.Name); ok {
			hdr.Caller, hdr.CallerVerified, caller = name, true, name
		}
	}
	if !hdr.CallerVerified {
		p.log.Info("unauthenticated caller on a proxy port", "claims", sn.Name, "target", target, "peer", c.RemoteAddr().String())
	}
	octx, cancel := context.WithTimeout(ctx, p.cfg.HandshakeTimeout)
	s, transport, err := p.cfg.Links.Open(octx, rt.Site, rt.Transport, rt.Liveness, hdr, frame)
	cancel()
	if err != nil {
		p.cfg.Relays.Refused(relay.Refusal{Caller: caller, Target: target, Site: rt.Site, Transport: transport.String(),
			Direction: relay.Out, Reason: link.RefusalReason(err), Detail: err.Error()})
		p.log.Error("relay refused", "caller", caller, "claims", sn.Name, "target", target, "via", rt.Site, "err", err)
		c.Close()
		return
	}
	pp.MarkConnected() // the peer took the caller: the port is no longer evicted for another
	ri := p.cfg.Relays.Add(caller, target, rt.Site, transport.String(), relay.Out, link.Describe(s))
	defer p.cfg.Relays.Remove(ri)
	p.log.Debug("relay started", "caller", caller, "target", target, "via", rt.Site, "transport", transport)
	local := relay.Conn(c.(*net.TCPConn))
	if rt.Tick > 0 {
		local = relay.NewTicker(c.(*net.TCPConn), rt.Tick, true)
	}
	relay.Run(local, s, p.cfg.Bufs, &ri.Stats) // its end is an event
}

// Status describes a proxy port.
type Status struct {
	Target string `json:"target"`
	Port   int    `json:"port"`
	Via    string `json:"via"`
	Active int64  `json:"active"`
}

// Status lists the open proxy ports.
func (p *Ports) Status() []Status {
	out := []Status{}
	p.pool.Each(func(pp *ports.Port[Route]) {
		out = append(out, Status{Target: pp.Key(), Port: pp.Number(), Via: pp.Value().Site, Active: pp.Active()})
	})
	return out
}

// Stop closes the ports; the relays in progress go on until their links
// close. Wait waits for them.
func (p *Ports) Stop() { p.pool.Stop() }

// Wait waits for every relay of the proxy ports to end, after Stop.
func (p *Ports) Wait() { p.pool.Wait() }
