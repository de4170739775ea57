// Package link is the link layer between gateways: the QUIC and TLS
// listeners peers dial, dialling peers (one dial at a time per link, a
// backoff after failures), the QUIC connections and TLS connections that
// carry link streams, and the links' status.
//
// A Manager opens a stream to a peer with Open: a QUIC stream on a shared
// connection per (peer, liveness), or a TLS connection of its own, which
// starts with a linkwire header and returns once the peer has answered.
// Streams that peers (and remote query clients, over QUIC or the TLS link
// port) open are given to the Handler passed to Serve. Who is at the other
// end is decided by a pki.Trust; the certificates come from the caller.
//
// Every link carries a control stream of pings and pongs (control.go): a
// side that hears nothing for the route's liveness declares the link dead
// and ends its relays, whatever TCP or QUIC think. The listeners admit
// connections before their handshake (admit.go, Config.Admit).
//
// A TLS link connection that holds a session ticket for its peer resumes
// it in one round trip, its ClientHello in the SYN (TCP Fast Open,
// fastopen.go).
//
// Socket options are Linux features (TCP_USER_TIMEOUT, TCP_INFO, TCP Fast
// Open, forced UDP buffer sizes): on other systems the Manager says at
// start that they are off, and links rely on keep-alives, QUIC's own
// timers and the control streams.
package link

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mholt/acmez/v3"
	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/relay"
)

// Config is what a Manager uses.
type Config struct {
	// QUIC is the UDP address of the QUIC listener, TLS the TCP address
	// of the TLS listener; empty: no listener.
	QUIC, TLS string
	// Peers are the peer gateways, and where they listen.
	Peers []Peer
	// Site is this gateway's site. With SiteEdges, streams opened to it go
	// to one of its edges: what an agent of a site of many hosts does.
	Site string
	// SiteEdges returns where the edges of this gateway's site listen for
	// links, the preferred first (the site directory's view).
	SiteEdges func() (quic, tls []string)
	// Certs presents this gateway's certificate, to peers that dial it
	// and to peers it dials.
	Certs Certificates
	// Trust decides who is at the other end of a link.
	Trust *pki.Trust
	// Idle closes a QUIC link this gateway dialled once it has carried no
	// stream for this long.
	Idle time.Duration
	// DefaultLiveness is the liveness of a stream opened without one.
	DefaultLiveness time.Duration
	// DialTimeout bounds the dial and handshake of a link, both ways.
	DialTimeout time.Duration
	// AcceptIdle bounds the idle timeout of QUIC links peers dial: the
	// dialling side's liveness decides, up to it.
	AcceptIdle time.Duration
	// Admit limits the connections each listener takes before their
	// handshake is done (the QUIC and the TLS listener each have these
	// limits of their own). A peer gateway's connection is given back
	// once its certificate is verified, and its address is trusted
	// (admit.Limiter.Trust); a remote query client's counts until it
	// ends. Zero: no limits.
	Admit admit.Limits
	// QueryStreams bounds the streams of one remote query client's QUIC
	// connection served at once; the others wait. Zero: 16.
	QueryStreams int
	// TLSDials bounds the relays' TLS connections this gateway dials to
	// one peer whose handshake is not done; the others wait their turn,
	// for TLSDialWait at most (a wait the caller's deadline does not
	// count). A burst of relays over a TLS link (a connection each) is
	// then queued here rather than refused or evicted by the peer's
	// admission limits, which hold a bounded number of handshakes. A
	// link's control connection does not wait. Zero: 32, and 1 minute.
	TLSDials    int
	TLSDialWait time.Duration
	// OnDial, when set, is told of every dial of a link (the metrics).
	OnDial func(site string, t Transport, err error)
	// OnState, when set, is told of every link that comes up or goes
	// down (the event log). It must not block.
	OnState func(State)
	// Logger receives the link layer's log.
	Logger *slog.Logger
}

// Peer is a peer site's link addresses (host:port, the host an IP address
// or a DNS name with a record for each of its edges); at least one. A
// link goes to the healthiest address and fails over to the others.
type Peer struct {
	Site string
	QUIC []string
	TLS  []string
}

// Certificates presents this gateway's certificates (a *pki.Manager).
type Certificates interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error)
}

// From is who opened a stream: a peer gateway (Site), or a remote query
// client that is not one (Identity, its certificate's; it may only query).
type From struct {
	Site      string
	Identity  string
	Transport Transport
	// Member is set for a gateway of this gateway's own site (Site is this
	// site, Identity the member's link identity); Edge when it is an edge.
	Member, Edge bool
}

// Handler serves a stream that a peer or a remote query client opened. It
// owns the stream: it closes or aborts it before returning. ctx ends when
// the Manager closes.
type Handler func(ctx context.Context, from From, s relay.Stream)

// alpnLink is the ALPN protocol of links between gateways, over QUIC and
// over TLS.
const alpnLink = "distgate/1"

// Error codes of streams and connections that end early.
const (
	codeAborted    quic.StreamErrorCode      = 1
	codeGoingAway  quic.ApplicationErrorCode = 0
	codeLinkFailed quic.ApplicationErrorCode = 1
	codeSilent     quic.ApplicationErrorCode = 2 // the link's control stream heard nothing for its liveness
)

// linkKey identifies a link: routes with different liveness timeouts get
// different QUIC connections, since the idle timeout is per connection.
type linkKey struct {
	site      string
	transport Transport
	liveness  time.Duration
}

// quicLink is an established QUIC connection to a peer.
type quicLink struct {
	key      linkKey
	addr     string // the address dialled
	conn     *quic.Conn
	since    time.Time
	streams  atomic.Int64
	lastUsed atomic.Int64 // Unix ns when the last stream ended or began
}

// Manager owns the gateway's side of every link: the listeners peers
// dial, the QUIC connections it dialled, and the TLS configurations of
// both.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	peers    map[string]Peer
	tlsDials map[string]chan struct{} // by peer site: a slot per TLS handshake in progress (Config.TLSDials)
	bufs     *linkBufs
	// Session tickets of the peers, to resume links and relay
	// connections (clientTLS).
	quicSessions   tls.ClientSessionCache
	tlsSessions    *ticketCache // knows which peers it holds a ticket of (fastopen.go)
	classicalPeers sync.Map     // peer site -> true: warned that its TLS handshake was classical
	serverTLS      *tls.Config
	udp            *net.UDPConn
	quicLn         *quic.Listener
	tlsLn          net.Listener
	quicAdmit      *admit.Limiter // nil: no limits
	tlsAdmit       *admit.Limiter
	refusals       *admit.Log // connections refused before or at their handshake

	handler atomic.Pointer[Handler] // set by Serve

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex // guards the following
	transport *quic.Transport
	udpReader *yieldingConn // m.udp as the transport reads it (set with it; New's, before acceptQUIC starts)
	quic      map[linkKey]*quicLink
	dialing   map[linkKey]chan struct{} // closed when a dial in progress ends
	backoffs  map[linkKey]*backoff
	tlsConns  map[*tls.Conn]*tlsConnInfo // live TLS link connections, both directions
	tlsCtls   map[linkKey]*control       // control connections of TLS links this gateway dialled
	ctlIn     map[*control]struct{}      // control streams of links peers dialled
	inbound   map[*quic.Conn]inboundLink
	lost      map[linkKey]lostLink   // links peers dialled that died, by site and transport
	health    map[string]*addrHealth // by address dialled (ip:port)
	ended     map[linkKey]*linkBytes // bytes of the connections that ended, by site and transport
}

// inboundLink is a QUIC connection a peer dialled.
type inboundLink struct {
	site     string
	since    time.Time
	liveness time.Duration // the shortest its streams asked for; 0: not watched yet (quiet.go)
}

// New opens the listeners cfg names (peers' connections wait in their
// queues until Serve) and starts closing unused links. Close stops it.
func New(cfg Config) (*Manager, error) {
	cfg.TLSDialWait = cmp.Or(cfg.TLSDialWait, time.Minute)
	m := &Manager{
		cfg: cfg, log: cfg.Logger, bufs: newLinkBufs(),
		peers:    map[string]Peer{},
		tlsDials: map[string]chan struct{}{},
		// crypto/tls keeps a peer's latest ticket under its server name,
		// and uses it as many times as it dials.
		quicSessions: tls.NewLRUClientSessionCache(len(cfg.Peers) + 1),
		tlsSessions:  newTicketCache(max(64, 4*(len(cfg.Peers)+1))), // a few edges per peer
		quic:         map[linkKey]*quicLink{},
		dialing:      map[linkKey]chan struct{}{},
		backoffs:     map[linkKey]*backoff{},
		tlsConns:     map[*tls.Conn]*tlsConnInfo{},
		tlsCtls:      map[linkKey]*control{},
		ctlIn:        map[*control]struct{}{},
		inbound:      map[*quic.Conn]inboundLink{},
		lost:         map[linkKey]lostLink{},
		health:       map[string]*addrHealth{},
		ended:        map[linkKey]*linkBytes{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.refusals = admit.NewLog(m.log, "link port: connection refused")
	if cfg.Admit.Total > 0 {
		m.quicAdmit, m.tlsAdmit = admit.New(cfg.Admit), admit.New(cfg.Admit)
	}
	for _, p := range cfg.Peers {
		m.peers[p.Site] = p
		m.tlsDials[p.Site] = make(chan struct{}, cmp.Or(cfg.TLSDials, 32))
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.serverTLS = &tls.Config{
		MinVersion:     tls.VersionTLS13,
		NextProtos:     []string{alpnLink, acmez.ACMETLS1Protocol},
		GetCertificate: cfg.Certs.GetCertificate,
	}
	pki.RequireTrusted(m.serverTLS, cfg.Trust)
	logPlatform(m.log)
	checkFastOpen(m.log, cfg.TLS != "")
	if err := m.listen(cfg.QUIC, cfg.TLS); err != nil {
		m.Close()
		return nil, err
	}
	m.wg.Add(1)
	go m.janitor(cfg.Idle)
	return m, nil
}

// listen opens the QUIC and TLS listeners that the config names.
func (m *Manager) listen(quicAddr, tlsAddr string) error {
	if quicAddr != "" {
		ua, err := net.ResolveUDPAddr("udp", quicAddr)
		if err != nil {
			return fmt.Errorf("links.quic: %w", err)
		}
		m.udp, err = net.ListenUDP("udp", ua)
		if err != nil {
			return fmt.Errorf("links.quic: %w", err)
		}
		forceUDPBuffers(m.udp)
		m.udpReader = newYieldingConn(m.udp)
		m.transport = &quic.Transport{Conn: m.udpReader, ConnectionIDGenerator: m.udpReader.cids, ConnContext: m.admitQUIC, VerifySourceAddress: m.retryQUIC}
		m.quicLn, err = m.transport.Listen(m.serverTLS, m.quicServerConfig())
		if err != nil {
			return fmt.Errorf("links.quic: %w", err)
		}
		checkUDPBuffers(m.udp, m.log) // after quic-go sized them
	}
	if tlsAddr != "" {
		ln, err := (&net.ListenConfig{Control: listenControl}).Listen(context.Background(), "tcp", tlsAddr)
		if err != nil {
			return fmt.Errorf("links.tls: %w", err)
		}
		m.tlsLn = ln
	}
	return nil
}

// Serve starts accepting on the listeners New opened, and serves every
// stream peers open with h: on the links they dial and on those this
// gateway dialled. Until then, a stream a peer opens on a link this
// gateway dialled is refused.
func (m *Manager) Serve(h Handler) {
	m.handler.Store(&h)
	if m.quicLn != nil {
		m.wg.Add(1)
		go m.acceptQUIC()
	}
	if m.tlsLn != nil {
		m.wg.Add(1)
		go m.acceptTLS()
	}
}

// handle serves a stream with the Handler, or refuses it before Serve.
func (m *Manager) handle(from From, s relay.Stream) {
	h := m.handler.Load()
	if h == nil {
		s.Write(linkwire.AppendReply(nil, linkwire.StatusBadRequest, "this gateway is starting"))
		s.Close()
		return
	}
	(*h)(m.ctx, from, s)
}

// Addrs returns the listeners' addresses (nil when off).
func (m *Manager) Addrs() (quicAddr, tlsAddr net.Addr) {
	if m.quicLn != nil {
		quicAddr = m.udp.LocalAddr()
	}
	if m.tlsLn != nil {
		tlsAddr = m.tlsLn.Addr()
	}
	return quicAddr, tlsAddr
}

// HasPeer reports whether site is a configured peer, or this gateway's
// own site when its edges are reached through SiteEdges.
func (m *Manager) HasPeer(site string) bool {
	_, ok := m.peer(site)
	return ok
}

// peer returns the addresses of site: a configured peer's, or, for this
// gateway's own site, its edges'.
func (m *Manager) peer(site string) (Peer, bool) {
	if p, ok := m.peers[site]; ok {
		return p, true
	}
	if site == m.cfg.Site && site != "" && m.cfg.SiteEdges != nil {
		q, t := m.cfg.SiteEdges()
		return Peer{Site: site, QUIC: q, TLS: t}, true
	}
	return Peer{}, false
}

// closeIdle closes the QUIC links this gateway dialled that have carried
// no stream for longer than idle: links are kept while used.
func (m *Manager) closeIdle(idle time.Duration, now time.Time) {
	cutoff := now.Add(-idle).UnixNano()
	m.mu.Lock()
	var drop []*quicLink
	for _, ql := range m.quic {
		if ql.streams.Load() == 0 && ql.lastUsed.Load() < cutoff {
			drop = append(drop, ql)
		}
	}
	m.mu.Unlock()
	for _, ql := range drop { // watchQUIC reports the link closed
		ql.conn.CloseWithError(codeGoingAway, errUnused.Error())
	}
}

// janitor closes unused links every quarter of idle.
func (m *Manager) janitor(idle time.Duration) {
	defer m.wg.Done()
	tick := time.NewTicker(max(idle/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-tick.C:
			m.closeIdle(idle, now)
			m.closeIdleControl(idle, now)
		}
	}
}

func (m *Manager) acceptQUIC() {
	defer m.wg.Done()
	for {
		conn, err := m.quicLn.Accept(m.ctx)
		if err != nil {
			if m.ctx.Err() == nil {
				m.log.Error("quic accept", "err", err)
			}
			return
		}
		m.udpReader.track(conn)
		who, err := m.cfg.Trust.Identify(conn.ConnectionState().TLS.PeerCertificates, time.Now())
		if err != nil {
			m.refusals.Refused(addrOf(conn.RemoteAddr()), "untrusted certificate", "transport", QUIC, "err", err)
			conn.CloseWithError(codeLinkFailed, "untrusted")
			continue
		}
		m.admittedQUIC(conn, who.Site)
		if who.Site == "" {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.serveQUICStreams(From{Identity: who.Identity, Transport: QUIC}, conn)
			}()
			continue
		}
		remote := conn.RemoteAddr().String()
		m.mu.Lock()
		m.inbound[conn] = inboundLink{site: who.Site, since: time.Now()}
		delete(m.lost, linkKey{site: who.Site, transport: QUIC})
		m.mu.Unlock()
		m.changed(State{Peer: who.Site, Transport: QUIC, Direction: dirIn, Remote: remote, Up: true})
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.serveQUICStreams(From{Site: who.Site, Identity: who.Identity, Member: who.Member, Edge: who.Edge, Transport: QUIC}, conn)
			<-conn.Context().Done() // the streams end first when this gateway closes
			cause := context.Cause(conn.Context())
			failed := quicFailed(cause)
			m.mu.Lock()
			delete(m.inbound, conn)
			m.endedLocked(who.Site, QUIC).addQUIC(conn)
			if failed && m.ctx.Err() == nil {
				m.lost[linkKey{site: who.Site, transport: QUIC}] = lostLink{err: fmt.Errorf("link down: %w", cause)}
			}
			m.mu.Unlock()
			if m.ctx.Err() == nil {
				m.changed(State{Peer: who.Site, Transport: QUIC, Direction: dirIn, Remote: remote, Reason: cause, Failed: failed})
			}
		}()
	}
}

// serveQUICStreams serves the streams a connection's far end opens: all
// at once for a peer gateway, Config.QueryStreams at a time for a remote
// query client.
func (m *Manager) serveQUICStreams(from From, conn *quic.Conn) {
	var sem chan struct{}
	if from.Site == "" {
		sem = make(chan struct{}, cmp.Or(m.cfg.QueryStreams, 16))
	}
	for {
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-conn.Context().Done():
				return
			}
		}
		s, err := conn.AcceptStream(m.ctx)
		if err != nil {
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if sem != nil {
				defer func() { <-sem }()
			}
			m.handle(from, quicStream{Stream: s, conn: conn, m: m})
		}()
	}
}

func (m *Manager) acceptTLS() {
	defer m.wg.Done()
	for {
		c, err := m.tlsLn.Accept()
		if err != nil {
			if m.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				m.log.Error("tls accept", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		var ticket *admit.Ticket
		if m.tlsAdmit != nil {
			var ok bool
			if ticket, ok = m.admitTLS(c); !ok {
				c.Close()
				continue
			}
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer ticket.Done()
			m.serveTLS(c.(*net.TCPConn), ticket)
		}()
	}
}

// serveTLS serves a TLS connection a peer (or a query client) dialled:
// one stream. Its admission is given back once a peer gateway is
// verified, and kept until the end for a query client.
func (m *Manager) serveTLS(c *net.TCPConn, ticket *admit.Ticket) {
	tc := tls.Server(newLinkConn(c, m.bufs), m.serverTLS)
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.DialTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		if !ticket.Evicted() { // else logged as evicted
			m.refusals.Refused(addrOf(c.RemoteAddr()), "TLS handshake", "transport", TLS, "err", err)
		}
		c.Close()
		return
	}
	if pki.IsACMEValidation(tc.ConnectionState()) {
		tc.Close() // an ACME validation, answered by the handshake
		return
	}
	who, err := m.cfg.Trust.Identify(tc.ConnectionState().PeerCertificates, time.Now())
	if err != nil {
		m.refusals.Refused(addrOf(c.RemoteAddr()), "untrusted certificate", "transport", TLS, "err", err)
		tc.Close()
		return
	}
	if who.Site != "" {
		ticket.Done()
		m.tlsAdmit.Trust(addrOf(c.RemoteAddr()), time.Now())
	} else {
		ticket.Established()
	}
	// A query client is tracked too, so that Close closes it.
	if !m.trackTLS(tc, &tlsConnInfo{key: linkKey{site: who.Site, transport: TLS}, dir: dirIn, since: time.Now()}) {
		tc.Close()
		return
	}
	defer m.untrackTLS(tc)
	m.handle(From{Site: who.Site, Identity: who.Identity, Member: who.Member, Edge: who.Edge, Transport: TLS}, &tlsLink{Conn: tc, lc: tc.NetConn().(*linkConn), m: m})
	if who.Site == "" {
		tc.Close()
	}
}

func (m *Manager) trackTLS(c *tls.Conn, info *tlsConnInfo) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return false
	}
	m.tlsConns[c] = info
	return true
}

// Close stops the listeners, closes every link and waits for everything
// the Manager started, the Handler's calls included.
func (m *Manager) Close() {
	m.cancel()
	if m.quicLn != nil {
		m.quicLn.Close()
	}
	if m.tlsLn != nil {
		m.tlsLn.Close()
	}
	m.mu.Lock()
	for _, ql := range m.quic {
		ql.conn.CloseWithError(codeGoingAway, "gateway shutting down")
	}
	for conn := range m.inbound {
		conn.CloseWithError(codeGoingAway, "gateway shutting down")
	}
	for c := range m.tlsConns {
		c.NetConn().Close()
	}
	tr := m.transport
	m.mu.Unlock()
	if tr != nil {
		tr.Close()
	}
	if m.udp != nil {
		m.udp.Close() // a quic.Transport does not close a socket it was given
	}
	m.wg.Wait()
	m.refusals.Close()
}
