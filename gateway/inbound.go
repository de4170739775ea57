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
		s.SetReadDeadline(time.Now().Add(remoteQueryTimeout)) // one query, then the end
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
		in.queries.serve(ctx, s, a)
		s.Close()
	default:
		s.Write(linkwire.AppendReply(nil, linkwire.StatusBadRequest, fmt.Sprintf("stream kind %s is not served here", hdr.Kind)))
		s.Close()
	}
}

// serveRelay connects a peer's caller to a node of this site.
func (in *inbound) serveRelay(ctx context.Context, from link.From, s relay.Stream, hdr linkwire.Header) {
	site, transport := from.Site, from.Transport.String()
	refuse := func(status linkwire.Status, msg string) {
		in.relays.Refused(relay.Refusal{Caller: hdr.Caller, Target: hdr.Target, Site: site, Transport: transport,
			Direction: relay.In, Reason: link.StatusReason(status), Detail: msg})
		in.log.Warn("relay refused", "peer", site, "caller", hdr.Caller, "target", hdr.Target, "reason", msg)
		s.Write(linkwire.AppendReply(nil, status, msg))
		s.Close()
	}
	d := in.router.Authorize(ctx, ViaLink, &abi.AuthorizeRequest{
		Action: abi.ActionReach, Node: hdr.Target, Asker: abi.Asker{Site: site, Node: hdr.Caller},
	})
	if !d.Allow {
		refuse(linkwire.StatusDenied, fmt.Sprintf("%s may not reach %s: %s", hdr.Caller, hdr.Target, d.Reason))
		return
	}
	name, host := epmd.SplitNode(hdr.Target)
	addr, err := in.nodes.tcpTarget(name, host)
	if err != nil {
		refuse(linkwire.StatusNotFound, err.Error())
		return
	}
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		refuse(linkwire.StatusUnreachable, fmt.Sprintf("%s does not accept connections: %v", hdr.Target, err))
		return
	}
	if _, err := s.Write(linkwire.AppendReply(nil, linkwire.StatusOK, "")); err != nil {
		c.Close()
		s.Abort()
		return
	}
	liveness := hdr.Liveness
	if liveness <= 0 {
		liveness = DefaultLiveness
	}
	link.ApplyLiveness(s, min(max(liveness, minLiveness), maxLiveness))
	ri := in.relays.Add(hdr.Caller, hdr.Target, site, transport, relay.In, link.Describe(s))
	defer in.relays.Remove(ri)
	local := relay.Conn(c.(*net.TCPConn))
	if hdr.Tick > 0 {
		local = relay.NewTicker(c.(*net.TCPConn), hdr.Tick, false)
	}
	in.log.Debug("relay started", "caller", hdr.Caller, "target", hdr.Target, "peer", site, "transport", transport)
	relay.Run(local, s, in.bufs, &ri.Stats) // its end is an event
}
