package gateway

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/distgate/distgate/gateway/pki"

	"github.com/mholt/acmez/v3"

	"github.com/distgate/distgate/epmd"
)

// Secure remote EPMD queries: the EPMD extension's NAMES_X and LOOKUP_X,
// one request per connection as on the classic port, served over mutual
// TLS (remote.listen) and over a QUIC stream on the link port. The client
// certificate's identity is what the authorize policy decides on; a client
// without a valid certificate is refused at the handshake, a client the
// policy refuses gets a clear status and learns nothing else.

// asker is who sent a remote query.
type asker struct {
	via      string // ViaRemote or ViaLink
	site     string // the peer site, for ViaLink
	identity string // the certificate identity, for ViaRemote
	addr     string
	local    netip.Addr // the address the client reached
}

// startRemote opens the remote query listener.
func (g *Gateway) startRemote() error {
	rc := g.cfg.Remote
	if rc.Listen == "" {
		return nil
	}
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12, // Erlang's ssl clients too
		GetCertificate: g.certs.GetCertificate,
		NextProtos:     []string{acmez.ACMETLS1Protocol},
	}
	pki.RequireTrusted(conf, g.trust)
	ln, err := net.Listen("tcp", rc.Listen)
	if err != nil {
		return fmt.Errorf("remote.listen: %w", err)
	}
	g.remoteLn = ln
	g.inbound.Add(1)
	go func() {
		defer g.inbound.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.inbound.Add(1)
			go func() {
				defer g.inbound.Done()
				g.serveRemoteTLS(c, conf)
			}()
		}
	}()
	return nil
}

func (g *Gateway) serveRemoteTLS(raw net.Conn, conf *tls.Config) {
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(remoteQueryTimeout))
	tc := tls.Server(raw, conf)
	if err := tc.Handshake(); err != nil {
		g.log.Warn("remote query refused at the handshake", "peer", raw.RemoteAddr().String(), "err", err)
		return
	}
	cs := tc.ConnectionState()
	if pki.IsACMEValidation(cs) {
		return
	}
	who, err := g.trust.Identify(cs.PeerCertificates, time.Now())
	if err != nil { // verified in the handshake: cannot happen
		return
	}
	a := asker{via: ViaRemote, addr: raw.RemoteAddr().String(), identity: who.Identity}
	if who.Site != "" {
		a.via, a.site = ViaLink, who.Site
	}
	if la, ok := raw.LocalAddr().(*net.TCPAddr); ok {
		a.local = la.AddrPort().Addr().Unmap()
	}
	g.serveQuery(context.Background(), tc, a)
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

// serveQuery answers one NAMES_X or LOOKUP_X.
func (g *Gateway) serveQuery(ctx context.Context, rw io.ReadWriter, a asker) {
	req, err := readQueryFrame(rw)
	if err != nil {
		g.log.Warn("remote query unreadable", "peer", a.addr, "err", err)
		return
	}
	var out []byte
	switch {
	case epmd.IsNamesXRequest(req):
		out = g.remoteNames(ctx, a)
	case req[0] == 'L':
		q, err := epmd.ParseLookupRequest(req)
		if err != nil {
			out = epmd.AppendLookupReply(nil, epmd.StatusBadRequest, nil, err.Error())
		} else {
			out = g.remoteLookup(ctx, a, q)
		}
	default:
		out = epmd.AppendBadRequest(nil, req[0], "only NAMES_X and LOOKUP_X are served on this port")
	}
	rw.Write(out)
}

func (a asker) authInput(action Action, target string) AuthInput {
	return AuthInput{Action: action, Via: a.via, Site: a.site, Identity: a.identity, Target: target, Addr: a.addr}
}

func (a asker) who() string {
	if a.via == ViaLink {
		return "site " + a.site
	}
	return "identity " + a.identity
}

// remoteEndpoints is how a remote client reaches a node of this host: its
// TLS termination port when the gateway terminates TLS, else the node's
// own transports at the address the client reached.
func (g *Gateway) remoteEndpoints(ctx context.Context, a asker, name string, eps []epmd.Endpoint, nodeType byte) []epmd.Endpoint {
	local := a.local
	// The termination port, when the asker could use it.
	reach := AuthInput{Action: ActionReach, Via: ViaPublic, Identity: a.identity, Target: name, Addr: a.addr}
	if ok, _ := g.routerNow().Authorize(ctx, reach); g.term != nil && ok {
		port, err := g.term.portFor(name)
		if err == nil {
			addr, _ := netip.ParseAddr(g.cfg.Public.Address)
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

func (g *Gateway) remoteLookup(ctx context.Context, a asker, q epmd.LookupRequest) []byte {
	if ok, reason := g.routerNow().Authorize(ctx, a.authInput(ActionLookup, q.Node)); !ok {
		g.log.Warn("remote lookup refused", "who", a.who(), "node", q.Node, "reason", reason, "peer", a.addr)
		return epmd.AppendLookupReply(nil, epmd.StatusDenied, nil, fmt.Sprintf("%s may not look up %s", a.who(), q.Node))
	}
	name, host := epmd.SplitNode(q.Node)
	if g.epmd == nil || !g.servesHost(name, host) {
		return epmd.AppendLookupReply(nil, epmd.StatusNotFound, nil, "no node "+q.Node+" behind this gateway")
	}
	var eps []epmd.Endpoint
	var registered bool
	g.epmd.Registry(func(r *epmd.Registry) { eps, registered = r.Lookup(name, q.Accept) })
	if !registered {
		return epmd.AppendLookupReply(nil, epmd.StatusNotFound, nil, "no node "+q.Node+" behind this gateway")
	}
	nodeType := byte(epmd.NodeTypeNormal)
	if len(eps) > 0 {
		nodeType = eps[0].NodeType
	}
	out := g.remoteEndpoints(ctx, a, name, eps, nodeType)
	if len(out) == 0 {
		return epmd.AppendLookupReply(nil, epmd.StatusNotFound, nil, "node "+q.Node+" offers none of the accepted protocols")
	}
	return epmd.AppendLookupReply(nil, epmd.StatusOK, out, "")
}

func (g *Gateway) remoteNames(ctx context.Context, a asker) []byte {
	router := g.routerNow()
	if ok, reason := router.Authorize(ctx, a.authInput(ActionList, "")); !ok {
		g.log.Warn("remote names refused", "who", a.who(), "reason", reason, "peer", a.addr)
		return epmd.AppendNamesXRefusal(nil, epmd.StatusDenied, a.who()+" may not list names")
	}
	if g.epmd == nil {
		return epmd.AppendNamesXReply(nil, nil)
	}
	var nodes []epmd.NodeInfo
	g.epmd.Registry(func(r *epmd.Registry) { nodes = r.Nodes() })
	var out []epmd.NodeInfo
	for _, n := range nodes {
		full := n.Name
		if n.Host != "" {
			full += "@" + n.Host
		}
		if ok, _ := router.Authorize(ctx, a.authInput(ActionList, full)); !ok {
			continue
		}
		eps := make([]epmd.Endpoint, len(n.Transports))
		for i, t := range n.Transports {
			eps[i] = epmd.Endpoint{Transport: t, NodeType: n.NodeType}
		}
		var ts []epmd.Transport
		for _, ep := range g.remoteEndpoints(ctx, a, n.Name, eps, n.NodeType) {
			ts = append(ts, ep.Transport)
		}
		n.Transports = ts
		out = append(out, n)
	}
	return epmd.AppendNamesXReply(nil, out)
}
