package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/filtering"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/relay"
)

// inbound serves the streams peers (and remote query clients) open on
// links: a relay to a node of this site, or one remote query.
type inbound struct {
	site    string // this gateway's
	agent   bool   // an agent: it relays for nobody
	router  Router
	links   *link.Manager
	nodes   *nodes
	queries *queries
	relays  *relay.Table
	bufs    *relay.Bufs
	filters *filtering.Hub
	log     *slog.Logger
}

// serveStream implements link.Handler.
func (in *inbound) serveStream(ctx context.Context, from link.From, s relay.Stream) {
	s.SetReadDeadline(time.Now().Add(handshakeTimeout))
	hdr, err := linkwire.ReadHeader(s)
	if err != nil {
		in.log.Warn("link stream refused", "peer", from.Site, "err", err)
		s.Write(linkwire.AppendReply(nil, linkwire.StatusBadRequest, err.Error()))
		s.Abort()
		return
	}
	if hdr.Kind == linkwire.KindEPMD {
		// One query, then the end: the deadline bounds the request and
		// the reply, which a client that reads nothing would hold for
		// ever.
		setDeadline(s, time.Now().Add(remoteQueryTimeout))
	} else {
		s.SetReadDeadline(time.Time{})
	}
	if from.Site == "" && hdr.Kind != linkwire.KindEPMD {
		s.Write(linkwire.AppendReply(nil, linkwire.StatusDenied, "a client that is not a peer gateway may only query"))
		s.Close()
		return
	}
	switch hdr.Kind {
	case linkwire.KindRelay:
		in.serveRelay(ctx, from, s, hdr)
	case linkwire.KindControl:
		in.links.ServeControl(from, s, clampLiveness(hdr.Liveness))
	case linkwire.KindEPMD:
		s.Write(linkwire.AppendReply(nil, linkwire.StatusOK, ""))
		a := asker{via: ViaLink, site: from.Site, identity: from.Identity, peer: from.Transport.String()}
		if from.Site == "" {
			a.via = ViaRemote
		}
		if la, ok := s.(interface{ LocalAddr() net.Addr }); ok {
			if ap, err := netip.ParseAddrPort(la.LocalAddr().String()); err == nil {
				a.local = ap.Addr().Unmap()
			}
		}
		if err := in.queries.serve(ctx, s, a); err != nil {
			s.Abort()
			return
		}
		s.Close()
	default:
		s.Write(linkwire.AppendReply(nil, linkwire.StatusBadRequest, fmt.Sprintf("stream kind %s is not served here", hdr.Kind)))
		s.Close()
	}
}

// serveRelay connects a caller to a node of this site, or forwards its
// stream on by this gateway's route to the target: a stream from an agent
// of this site to another site, or one that crosses this site in transit.
// Each gateway authorizes with its own policy and counts the hop.
func (in *inbound) serveRelay(ctx context.Context, from link.From, s relay.Stream, hdr linkwire.Header) {
	site, transport := from.Site, from.Transport.String()
	hops := max(hdr.Hops, 1)
	via := ViaLink
	asker := abi.Asker{Site: site, Node: hdr.Caller, Verified: abi.VerifiedSite}
	target := hdr.Target // its canonical name once known
	// The caller's name is the previous gateway's word: a node it
	// verified, or only what the caller's send_name said. An agent of this
	// site vouches only for the nodes it holds in the site directory; a
	// peer site only for its own nodes, not for a caller it relays from
	// another site (Origin).
	var verified bool
	switch {
	case from.Member:
		via = ViaSite
		verified = hdr.CallerVerified && in.holds(from.Identity, hdr.Caller)
	case hdr.Origin == "" || hdr.Origin == site:
		verified = hdr.CallerVerified
	}
	if hdr.Origin != "" {
		asker.Labels = append(asker.Labels, abi.Label{Key: "origin", Value: hdr.Origin})
	}
	if hops > 1 {
		asker.Labels = append(asker.Labels, abi.Label{Key: "hops", Value: strconv.Itoa(int(hops))})
	}
	caller := relay.Unauthenticated
	if verified {
		asker.Verified |= abi.VerifiedNode
		caller = hdr.Caller
	}
	refuse := func(status linkwire.Status, msg string) {
		in.relays.Refused(relay.Refusal{Caller: caller, Target: target, Site: site, Transport: transport,
			Direction: relay.In, Reason: link.StatusReason(status), Detail: msg})
		in.log.Warn("relay refused", "peer", site, "caller", caller, "claims", hdr.Caller, "target", hdr.Target, "hops", hops, "reason", msg)
		s.Write(linkwire.AppendReply(nil, status, msg))
		s.Close()
	}
	switch {
	case in.agent:
		refuse(linkwire.StatusBadRequest, "an agent relays for its own host only: the edges of its site reach its nodes")
		return
	case int(hops) > linkwire.MaxHops:
		refuse(linkwire.StatusDenied, fmt.Sprintf("hop limit: the stream has crossed %d links (a loop of routes?)", hops))
		return
	}
	// Rules and policies decide on the target's one name, not on the
	// alias of this host the peer asked for.
	canonical, err := in.nodes.canonical(hdr.Target)
	if err != nil {
		in.forward(ctx, from, s, hdr, via, asker, caller, verified, refuse)
		return
	}
	target = canonical
	d := in.router.Authorize(ctx, via, &abi.AuthorizeRequest{Action: abi.ActionReach, Node: target, Asker: asker})
	if !d.Allow {
		refuse(linkwire.StatusDenied, fmt.Sprintf("%s may not reach %s: %s", caller, target, d.Reason))
		return
	}
	addr, ok := in.nodes.siteTCPTarget(target)
	if !ok {
		name, _ := epmd.SplitNode(target)
		if addr, err = in.nodes.tcpTarget(name); err != nil {
			refuse(linkwire.StatusNotFound, err.Error())
			return
		}
	}
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		refuse(linkwire.StatusUnreachable, fmt.Sprintf("%s does not accept connections: %v", target, err))
		return
	}
	if _, err := s.Write(linkwire.AppendReply(nil, linkwire.StatusOK, "")); err != nil {
		c.Close()
		s.Abort()
		return
	}
	link.ApplyLiveness(s, clampLiveness(hdr.Liveness))
	ri := in.relays.Add(caller, target, site, transport, relay.In, link.Describe(s))
	defer in.relays.Remove(ri)
	remote, _, err := in.filters.Wrap(ctx, s, filtering.Conn{Relay: ri.ID, Asker: asker, Via: via.String(), InPrefix: 2, OutPrefix: 2})
	if err != nil {
		c.Close()
		s.Abort()
		return
	}
	s = remote
	local := relay.Conn(c.(*net.TCPConn))
	if hdr.Tick > 0 {
		local = relay.NewTicker(c.(*net.TCPConn), hdr.Tick, false)
	}
	in.log.Debug("relay started", "caller", caller, "claims", hdr.Caller, "target", target, "peer", site, "transport", transport)
	relay.Run(local, s, in.bufs, &ri.Stats) // its end is an event
}

// holds reports whether the member of this site with link identity
// identity holds the registration of node in the site directory.
func (in *inbound) holds(identity, node string) bool {
	if in.nodes.dir == nil {
		return false
	}
	name, host := epmd.SplitNode(node)
	var held bool
	in.nodes.dir.View(func(st *directory.State) { // one look: the node and its member as they stand together
		sn, ok := st.Lookup(name, host)
		m, mok := st.Member(sn.Member)
		held = ok && mok && m.Identity == identity
	})
	return held
}

// forward sends a stream whose target is not a node of this site on by
// this gateway's own route: to the peer site the route leads to, with one
// more hop, once the policy allowed the caller to reach the target. The
// next gateway's answer is passed back.
func (in *inbound) forward(ctx context.Context, from link.From, s relay.Stream, hdr linkwire.Header, via Via,
	asker abi.Asker, caller string, verified bool, refuse func(linkwire.Status, string)) {
	name, host := epmd.SplitNode(hdr.Target)
	if host == "" {
		refuse(linkwire.StatusNotFound, "no node "+hdr.Target+" here")
		return
	}
	rt := in.router.Lookup(ctx, &abi.LookupRequest{Name: name, Host: host, Asker: asker})
	switch {
	case rt.Kind == abi.RouteDeny:
		refuse(linkwire.StatusDenied, rt.Reason)
		return
	case rt.Kind != abi.RouteVia || rt.Site == in.site:
		refuse(linkwire.StatusNotFound, fmt.Sprintf("no node %s is in site %s, and no route leads on", hdr.Target, in.site))
		return
	case !in.links.HasPeer(rt.Site):
		refuse(linkwire.StatusUnreachable, fmt.Sprintf("the route of %s leads to site %s, which is not a peer of site %s", hdr.Target, rt.Site, in.site))
		return
	}
	d := in.router.Authorize(ctx, via, &abi.AuthorizeRequest{Action: abi.ActionReach, Node: hdr.Target, Asker: asker})
	if !d.Allow {
		refuse(linkwire.StatusDenied, fmt.Sprintf("%s may not reach %s through site %s: %s", caller, hdr.Target, in.site, d.Reason))
		return
	}
	out := hdr
	out.Hops = max(hdr.Hops, 1) + 1
	out.CallerVerified = verified
	if out.Origin == "" && !from.Member {
		out.Origin = from.Site // a transit site: the caller is the previous site's
	}
	transport, _ := link.ParseTransport(rt.Transport) // validated with the route
	octx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	next, _, err := in.links.Open(octx, rt.Site, transport, hdr.Liveness, out, nil)
	cancel()
	if err != nil {
		var le *linkwire.Error
		if errors.As(err, &le) {
			refuse(le.Status, "site "+rt.Site+": "+le.Message)
		} else {
			refuse(linkwire.StatusUnreachable, err.Error())
		}
		return
	}
	if _, err := s.Write(linkwire.AppendReply(nil, linkwire.StatusOK, "")); err != nil {
		next.Abort()
		s.Abort()
		return
	}
	link.ApplyLiveness(s, clampLiveness(hdr.Liveness))
	ri := in.relays.Add(caller, hdr.Target, from.Site, from.Transport.String(), relay.In,
		link.Describe(s)+", on to site "+rt.Site+" over "+link.Describe(next))
	defer in.relays.Remove(ri)
	in.log.Debug("relay forwarded", "caller", caller, "target", hdr.Target, "from", from.Site, "to", rt.Site, "hops", out.Hops)
	// The next gateway's side stands where a local node would: its end is
	// an event, as a local relay's.
	relay.Run(next, s, in.bufs, &ri.Stats)
}

// setDeadline bounds the reads and the writes of a link stream (a QUIC
// stream, a TLS link connection).
func setDeadline(s relay.Stream, t time.Time) {
	if d, ok := s.(interface{ SetDeadline(time.Time) error }); ok {
		d.SetDeadline(t)
	} else {
		s.SetReadDeadline(t)
	}
}

// clampLiveness is the liveness of a link stream whose header asks for
// liveness: the default when it asks for none, within the bounds.
func clampLiveness(liveness time.Duration) time.Duration {
	if liveness <= 0 {
		liveness = DefaultLiveness
	}
	return min(max(liveness, minLiveness), maxLiveness)
}
