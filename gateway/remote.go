package gateway

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mholt/acmez/v3"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/terminate"
)

// Secure remote EPMD queries: the EPMD extension's NAMES_X and LOOKUP_X,
// one request per connection as on the classic port, served over mutual
// TLS (remote.listen) and over a QUIC stream on the link port. The client
// certificate's identity is what the authorize policy decides on; a client
// without a valid certificate is refused at the handshake, a client the
// policy refuses gets a clear status and learns nothing else.

// asker is who sent a remote query.
type asker struct {
	via      Via    // ViaRemote or ViaLink
	site     string // the peer site, for ViaLink
	identity string // the certificate identity, for ViaRemote
	addr     netip.AddrPort
	peer     string     // for the log: the remote address, or the link's transport
	local    netip.Addr // the address the client reached
}

// abi returns the asker in the policies' terms: a peer's site and a
// client's identity are verified, the identity by remote.client_ca.
func (a asker) abi() abi.Asker {
	out := abi.Asker{Site: a.site, Identity: a.identity, Addr: a.addr}
	if a.site != "" {
		out.Verified |= abi.VerifiedSite
	}
	if a.identity != "" {
		out.Verified |= abi.VerifiedIdentity
		out.Roots = []string{abi.RootRemote}
	}
	return out
}

// queries answers remote queries, over the TLS listener it owns and over
// the link streams inbound hands it.
type queries struct {
	router Router
	nodes  *nodes
	term   *terminate.Ports // nil when the gateway terminates no TLS
	// publicAddr is where the TLS ports open (public.address); unset or
	// unspecified: the address the client reached.
	publicAddr netip.Addr
	log        *slog.Logger

	ln       net.Listener   // remote.listen; nil when off
	limit    *admit.Limiter // its admission, before the handshake
	refusals *admit.Log     // its refusals
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func newQueries(router Router, n *nodes, term *terminate.Ports, publicAddr netip.Addr, log *slog.Logger) *queries {
	q := &queries{router: router, nodes: n, term: term, publicAddr: publicAddr, log: log,
		limit: admit.New(edgeLimits()), refusals: admit.NewLog(log, "remote query port: connection refused")}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	return q
}

// listen opens the remote query listener and serves it.
func (q *queries) listen(addr string, certs *pki.Manager, trust *pki.Trust) error {
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12, // Erlang's ssl clients too
		GetCertificate: certs.GetCertificate,
		NextProtos:     []string{acmez.ACMETLS1Protocol},
	}
	pki.RequireTrusted(conf, trust)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("remote.listen: %w", err)
	}
	q.ln = ln
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer := remoteIP(c)
			ticket, err := q.limit.Admit(peer, time.Now(), func() {
				c.Close()
				q.refusals.Refused(peer, "evicted: every connection was taken")
			})
			if err != nil {
				q.refusals.Refused(peer, err.Error())
				c.Close()
				continue
			}
			q.wg.Add(1)
			go func() {
				defer q.wg.Done()
				defer ticket.Done()
				q.serveTLS(c, conf, trust, ticket)
			}()
		}
	}()
	return nil
}

// close stops the listener and waits for the queries in progress, which
// their deadline bounds; their policy calls are cancelled.
func (q *queries) close() {
	q.cancel()
	if q.ln != nil {
		q.ln.Close()
	}
	q.wg.Wait()
	q.refusals.Close()
}

// remoteIP returns the IP a connection comes from.
func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// serveTLS answers one query on a connection to remote.listen: the
// deadline bounds the handshake, the request and the reply.
func (q *queries) serveTLS(raw net.Conn, conf *tls.Config, trust *pki.Trust, ticket *admit.Ticket) {
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(remoteQueryTimeout))
	tc := tls.Server(raw, conf)
	if err := tc.HandshakeContext(q.ctx); err != nil {
		if !ticket.Evicted() { // else logged as evicted
			q.refusals.Refused(remoteIP(raw), "TLS handshake", "err", err)
		}
		return
	}
	ticket.Established() // a verified client: no longer evicted to make room
	cs := tc.ConnectionState()
	if pki.IsACMEValidation(cs) {
		return
	}
	who, err := trust.Identify(cs.PeerCertificates, time.Now())
	if err != nil { // verified in the handshake: cannot happen
		return
	}
	a := asker{via: ViaRemote, peer: raw.RemoteAddr().String(), identity: who.Identity}
	if who.Site != "" {
		a.via, a.site = ViaLink, who.Site
		q.limit.Trust(remoteIP(raw), time.Now())
	}
	if ta, ok := raw.RemoteAddr().(*net.TCPAddr); ok {
		a.addr = ta.AddrPort()
	}
	if la, ok := raw.LocalAddr().(*net.TCPAddr); ok {
		a.local = la.AddrPort().Addr().Unmap()
	}
	if err := q.serve(q.ctx, tc, a); err != nil {
		return // raw closes; a close_notify would wait for the deadline
	}
	tc.Close()
}

// readQueryFrame reads one framed EPMD request.
func readQueryFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n, ok := epmd.FrameLen(hdr)
	if !ok {
		return nil, fmt.Errorf("request of %d bytes", binary.BigEndian.Uint16(hdr[:]))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// serve answers one NAMES_X or LOOKUP_X; the caller's deadline bounds
// the reading of the request and the writing of the reply. It returns the
// error that kept the request from being read or the reply from being
// written.
func (q *queries) serve(ctx context.Context, rw io.ReadWriter, a asker) error {
	req, err := readQueryFrame(rw)
	if err != nil {
		q.log.Debug("remote query unreadable", "peer", a.peer, "err", err)
		return fmt.Errorf("remote query: %w", err)
	}
	var out []byte
	switch {
	case epmd.IsNamesXRequest(req):
		out = q.remoteNames(ctx, a)
	case req[0] == 'L':
		lq, err := epmd.ParseLookupRequest(req)
		if err != nil {
			out = epmd.AppendLookupReply(nil, epmd.StatusBadRequest, nil, err.Error())
		} else {
			out = q.remoteLookup(ctx, a, lq)
		}
	default:
		out = epmd.AppendBadRequest(nil, req[0], "only NAMES_X and LOOKUP_X are served on this port")
	}
	if _, err := rw.Write(out); err != nil {
		q.log.Warn("remote query: reply not taken", "peer", a.peer, "who", a.who(), "bytes", len(out), "err", err)
		return fmt.Errorf("remote query reply: %w", err)
	}
	return nil
}

// authorize asks whether the asker may list (lookup unset) or look up
// (lookup set) node; node "" asks whether it may list at all.
func (q *queries) authorize(ctx context.Context, a asker, lookup bool, node string) abi.Decision {
	return q.router.Authorize(ctx, a.via, &abi.AuthorizeRequest{
		Action: abi.ActionList, Lookup: lookup, Node: node, Asker: a.abi(),
	})
}

func (a asker) who() string {
	if a.via == ViaLink {
		return "site " + a.site
	}
	return "identity " + a.identity
}

// remoteEndpoints is how a remote client reaches a node of this host (by
// its canonical full name): its TLS termination port when the gateway
// terminates TLS, else the node's own transports at the address the
// client reached.
func (q *queries) remoteEndpoints(ctx context.Context, a asker, node string, eps []epmd.Endpoint, nodeType byte) []epmd.Endpoint {
	local := a.local
	name, _ := epmd.SplitNode(node)
	// The termination port, when the asker could use it.
	reach := &abi.AuthorizeRequest{Action: abi.ActionReach, Node: node, Asker: a.abi()}
	if q.term != nil && q.router.Authorize(ctx, ViaPublic, reach).Allow {
		port, err := q.term.Port(name)
		if err == nil {
			addr := q.publicAddr
			if !addr.IsValid() || addr.IsUnspecified() {
				addr = local
			}
			fam := epmd.FamilyInet
			if addr.Is6() {
				fam = epmd.FamilyInet6
			}
			return []epmd.Endpoint{{Transport: epmd.Transport{Proto: "inet_tls", Port: uint16(port), Family: fam, Addr: addr, HighVsn: 6, LowVsn: 6}, NodeType: nodeType}}
		}
	}
	out := make([]epmd.Endpoint, 0, len(eps))
	for _, ep := range eps {
		if ep.Family == epmd.FamilyLocal {
			continue
		}
		if !ep.Addr.IsValid() && local.IsValid() {
			ep.Addr = local
		}
		out = append(out, ep)
	}
	return out
}

func (q *queries) remoteLookup(ctx context.Context, a asker, lq epmd.LookupRequest) []byte {
	// The policy decides on the node's one name, not on the alias of this
	// host the client asked for.
	node, err := q.nodes.canonical(lq.Node)
	if err != nil {
		return epmd.AppendLookupReply(nil, epmd.StatusNotFound, nil, "no node "+lq.Node+" behind this gateway")
	}
	if d := q.authorize(ctx, a, true, node); !d.Allow {
		q.log.Warn("remote lookup refused", "who", a.who(), "node", node, "asked", lq.Node, "reason", d.Reason, "peer", a.peer)
		return epmd.AppendLookupReply(nil, epmd.StatusDenied, nil, fmt.Sprintf("%s may not look up %s", a.who(), lq.Node))
	}
	name, _ := epmd.SplitNode(node)
	var eps []epmd.Endpoint
	var registered bool
	q.nodes.epmd.Registry(func(r *epmd.Registry) { eps, registered = r.Lookup(name, lq.Accept) })
	if !registered {
		return epmd.AppendLookupReply(nil, epmd.StatusNotFound, nil, "no node "+lq.Node+" behind this gateway")
	}
	nodeType := byte(epmd.NodeTypeNormal)
	if len(eps) > 0 {
		nodeType = eps[0].NodeType
	}
	out := q.remoteEndpoints(ctx, a, node, eps, nodeType)
	if len(out) == 0 {
		return epmd.AppendLookupReply(nil, epmd.StatusNotFound, nil, "node "+lq.Node+" offers none of the accepted protocols")
	}
	return epmd.AppendLookupReply(nil, epmd.StatusOK, out, "")
}

func (q *queries) remoteNames(ctx context.Context, a asker) []byte {
	if d := q.authorize(ctx, a, false, ""); !d.Allow {
		q.log.Warn("remote names refused", "who", a.who(), "reason", d.Reason, "peer", a.peer)
		return epmd.AppendNamesXRefusal(nil, epmd.StatusDenied, a.who()+" may not list names")
	}
	if q.nodes.epmd == nil {
		return epmd.AppendNamesXReply(nil, nil)
	}
	var registered []epmd.NodeInfo
	q.nodes.epmd.Registry(func(r *epmd.Registry) { registered = r.Nodes() })
	var out []epmd.NodeInfo
	for _, n := range registered {
		node := q.nodes.canonicalOf(n.Name, n.Host)
		if !q.authorize(ctx, a, false, node).Allow {
			continue
		}
		eps := make([]epmd.Endpoint, len(n.Transports))
		for i, t := range n.Transports {
			eps[i] = epmd.Endpoint{Transport: t, NodeType: n.NodeType}
		}
		var ts []epmd.Transport
		for _, ep := range q.remoteEndpoints(ctx, a, node, eps, n.NodeType) {
			ts = append(ts, ep.Transport)
		}
		n.Transports = ts
		out = append(out, n)
	}
	return epmd.AppendNamesXReply(nil, out)
}
