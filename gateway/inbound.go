package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/relay"
)

// inbound serves the streams peers (and remote query clients) open on
// links: a relay to a node of this site, or one remote query.
type inbound struct {
	router  Router
	links   *link.Manager
	nodes   *nodes
	queries *queries
	relays  *relay.Table
	bufs    *relay.Bufs
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

// serveRelay connects a peer's caller to a node of this site.
func (in *inbound) serveRelay(ctx context.Context, from link.From, s relay.Stream, hdr linkwire.Header) {
	site, transport := from.Site, from.Transport.String()
	// The caller's name is the peer's word: a node of its host it
	// verified, or only what the caller's send_name said.
	caller, asker := hdr.Caller, abi.Asker{Site: site, Node: hdr.Caller, Verified: abi.VerifiedSite}
	target := hdr.Target // its canonical name once known
	if hdr.CallerVerified {
		asker.Verified |= abi.VerifiedNode
	} else {
		caller = relay.Unauthenticated
	}
	refuse := func(status linkwire.Status, msg string) {
		in.relays.Refused(relay.Refusal{Caller: caller, Target: target, Site: site, Transport: transport,
			Direction: relay.In, Reason: link.StatusReason(status), Detail: msg})
		in.log.Warn("relay refused", "peer", site, "caller", caller, "claims", hdr.Caller, "target", hdr.Target, "reason", msg)
		s.Write(linkwire.AppendReply(nil, status, msg))
		s.Close()
	}
	// Rules and policies decide on the target's one name, not on the
	// alias of this host the peer asked for.
	canonical, err := in.nodes.canonical(hdr.Target)
	if err != nil {
		refuse(linkwire.StatusNotFound, err.Error())
		return
	}
	target = canonical
	d := in.router.Authorize(ctx, ViaLink, &abi.AuthorizeRequest{Action: abi.ActionReach, Node: target, Asker: asker})
	if !d.Allow {
		refuse(linkwire.StatusDenied, fmt.Sprintf("%s may not reach %s: %s", caller, target, d.Reason))
		return
	}
	name, _ := epmd.SplitNode(target)
	addr, err := in.nodes.tcpTarget(name)
	if err != nil {
		refuse(linkwire.StatusNotFound, err.Error())
		return
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
	local := relay.Conn(c.(*net.TCPConn))
	if hdr.Tick > 0 {
		local = relay.NewTicker(c.(*net.TCPConn), hdr.Tick, false)
	}
	in.log.Debug("relay started", "caller", caller, "claims", hdr.Caller, "target", target, "peer", site, "transport", transport)
	relay.Run(local, s, in.bufs, &ri.Stats) // its end is an event
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
