package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distgate/distgate/gateway/pki"

	"github.com/mholt/acmez/v3"
	"github.com/quic-go/quic-go"
	"golang.org/x/sys/unix"

	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/relay"
)

// alpnLink is the ALPN protocol of links between gateways, over QUIC and
// over TLS.
const alpnLink = "distgate/1"

// Stream error codes of aborted relays.
const (
	codeAborted    quic.StreamErrorCode      = 1
	codeGoingAway  quic.ApplicationErrorCode = 0
	codeLinkFailed quic.ApplicationErrorCode = 1
)

// quicStream adapts a QUIC stream to the relay: Close is the orderly end
// (FIN, then stop reading), Abort resets both directions.
type quicStream struct {
	*quic.Stream
	conn *quic.Conn
}

func (s quicStream) CloseWrite() error { return s.Stream.Close() }

// LocalAddr is the address of the QUIC connection's end here.
func (s quicStream) LocalAddr() net.Addr { return s.conn.LocalAddr() }

func (s quicStream) Close() error {
	err := s.Stream.Close()
	s.Stream.CancelRead(0)
	return err
}

func (s quicStream) Abort() {
	s.Stream.CancelRead(codeAborted)
	s.Stream.CancelWrite(codeAborted)
}

// linkKey identifies a link: routes with different liveness timeouts get
// different QUIC connections, since the idle timeout is per connection.
type linkKey struct {
	site      string
	transport string
	liveness  time.Duration
}

// quicLink is an established QUIC connection to a peer.
type quicLink struct {
	key      linkKey
	conn     *quic.Conn
	since    time.Time
	streams  atomic.Int64
	lastUsed atomic.Int64 // Unix ns when the last stream ended or began
}

// dialBackoff spaces out redials of a link that failed.
type dialBackoff struct {
	failures int
	next     time.Time
	lastErr  error
}

const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 2 * time.Second
)

// failedLocked notes a failed dial of a link: the next attempt waits for
// twice as long as the last one did, up to backoffMax.
func (l *links) failedLocked(key linkKey, err error) {
	b := l.backoffs[key]
	if b == nil {
		b = &dialBackoff{}
		l.backoffs[key] = b
	}
	b.failures++
	b.lastErr = err
	b.next = time.Now().Add(min(backoffMin<<min(b.failures-1, 8), backoffMax))
}

// links owns the gateway's side of every link: the listeners peers dial,
// the QUIC connections it dialled, and the TLS configurations of both.
type links struct {
	site  string
	log   *slog.Logger
	certs *pki.Manager
	trust *pki.Trust
	peers map[string]PeerConfig
	// accept serves a stream a peer opened; set by the gateway. site is
	// empty for a remote client that is not a peer (identity is then its
	// certificate's), which may only query.
	accept func(ctx context.Context, site, identity, transport string, s relay.Stream)
	// onDial is told of every dial of a link (for metrics).
	onDial func(peer, transport string, err error)

	serverTLS *tls.Config
	udp       *net.UDPConn
	transport *quic.Transport
	quicLn    *quic.Listener
	tlsLn     net.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the following
	quic     map[linkKey]*quicLink
	dialing  map[linkKey]chan struct{} // closed when a dial in progress ends
	backoffs map[linkKey]*dialBackoff
	tlsConns map[*tls.Conn]linkKey // live TLS relay connections, both directions
	tlsSeen  map[string]*tlsPeerSeen
	inbound  map[*quic.Conn]inboundLink
}

// tlsPeerSeen remembers the TLS link to a peer between its connections.
type tlsPeerSeen struct {
	remote   string
	rtt      time.Duration
	since    time.Time
	lastUsed time.Time
}

// inboundLink is a QUIC connection a peer dialled.
type inboundLink struct {
	site  string
	since time.Time
}

// closeIdle closes the QUIC links this gateway dialled that have carried
// no stream for longer than idle: links are kept while used.
func (l *links) closeIdle(idle time.Duration) {
	cutoff := time.Now().Add(-idle).UnixNano()
	l.mu.Lock()
	var drop []*quicLink
	for _, ql := range l.quic {
		if ql.streams.Load() == 0 && ql.lastUsed.Load() < cutoff {
			drop = append(drop, ql)
		}
	}
	l.mu.Unlock()
	for _, ql := range drop {
		l.log.Info("link closed: unused", "peer", ql.key.site, "transport", "quic", "idle", idle)
		ql.conn.CloseWithError(codeGoingAway, "unused")
	}
}

// janitor closes unused links every quarter of idle.
func (l *links) janitor(idle time.Duration) {
	defer l.wg.Done()
	tick := time.NewTicker(max(idle/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-tick.C:
			l.closeIdle(idle)
		}
	}
}

func newLinks(site string, peers []PeerConfig, certs *pki.Manager, trust *pki.Trust, log *slog.Logger) (*links, error) {
	l := &links{
		site: site, log: log, certs: certs, trust: trust,
		peers:    map[string]PeerConfig{},
		quic:     map[linkKey]*quicLink{},
		dialing:  map[linkKey]chan struct{}{},
		backoffs: map[linkKey]*dialBackoff{},
		tlsConns: map[*tls.Conn]linkKey{},
		tlsSeen:  map[string]*tlsPeerSeen{},
		inbound:  map[*quic.Conn]inboundLink{},
	}
	for _, p := range peers {
		l.peers[p.Site] = p
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.serverTLS = &tls.Config{
		MinVersion:     tls.VersionTLS13,
		NextProtos:     []string{alpnLink, acmez.ACMETLS1Protocol},
		GetCertificate: certs.GetCertificate,
	}
	pki.RequireTrusted(l.serverTLS, trust)
	return l, nil
}

// clientTLS is the configuration for dialling a peer.
func (l *links) clientTLS(site string) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		NextProtos:           []string{alpnLink},
		ServerName:           l.trust.ServerName(site),
		InsecureSkipVerify:   true, // verified by VerifyConnection against the pin or the CA
		GetClientCertificate: l.certs.GetClientCertificate,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return l.trust.VerifyPeer(site, cs.PeerCertificates, time.Now())
		},
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
}

// listen opens the QUIC and TLS listeners that the config names; serve
// starts accepting on them.
func (l *links) listen(quicAddr, tlsAddr string) error {
	if quicAddr != "" {
		ua, err := net.ResolveUDPAddr("udp", quicAddr)
		if err != nil {
			return fmt.Errorf("links.quic: %w", err)
		}
		l.udp, err = net.ListenUDP("udp", ua)
		if err != nil {
			return fmt.Errorf("links.quic: %w", err)
		}
		forceUDPBuffers(l.udp)
		l.transport = &quic.Transport{Conn: l.udp}
		l.quicLn, err = l.transport.Listen(l.serverTLS, l.quicServerConfig())
		if err != nil {
			return fmt.Errorf("links.quic: %w", err)
		}
		checkUDPBuffers(l.udp, l.log) // after quic-go sized them
	}
	if tlsAddr != "" {
		ln, err := net.Listen("tcp", tlsAddr)
		if err != nil {
			return fmt.Errorf("links.tls: %w", err)
		}
		l.tlsLn = ln
	}
	return nil
}

// serve starts accepting on the listeners listen opened; until then,
// peers' connections wait in the listeners' queues.
func (l *links) serve() {
	if l.quicLn != nil {
		l.wg.Add(1)
		go l.acceptQUIC()
	}
	if l.tlsLn != nil {
		l.wg.Add(1)
		go l.acceptTLS()
	}
}

// QUICAddr and TLSAddr return the listeners' addresses (nil when off).
func (l *links) QUICAddr() net.Addr {
	if l.udp == nil {
		return nil
	}
	return l.udp.LocalAddr()
}

func (l *links) TLSAddr() net.Addr {
	if l.tlsLn == nil {
		return nil
	}
	return l.tlsLn.Addr()
}

func (l *links) quicServerConfig() *quic.Config {
	// The idle timeout is the smaller of both ends': the dialling side's
	// route liveness decides, the accepting side only bounds it.
	return &quic.Config{
		MaxIdleTimeout:       2 * time.Minute,
		HandshakeIdleTimeout: 10 * time.Second,
		MaxIncomingStreams:   1 << 16,
	}
}

func (l *links) quicClientConfig(liveness time.Duration) *quic.Config {
	return &quic.Config{
		MaxIdleTimeout:       liveness,
		KeepAlivePeriod:      liveness / 3,
		HandshakeIdleTimeout: min(liveness, 10*time.Second),
		MaxIncomingStreams:   1 << 16,
	}
}

func (l *links) acceptQUIC() {
	defer l.wg.Done()
	for {
		conn, err := l.quicLn.Accept(l.ctx)
		if err != nil {
			if l.ctx.Err() == nil {
				l.log.Error("quic accept", "err", err)
			}
			return
		}
		who, err := l.trust.Identify(conn.ConnectionState().TLS.PeerCertificates, time.Now())
		site, identity := who.Site, who.Identity
		if err != nil {
			conn.CloseWithError(codeLinkFailed, "untrusted")
			continue
		}
		if site == "" {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.serveQUICStreams("", identity, conn)
			}()
			continue
		}
		l.log.Info("link up", "peer", site, "transport", "quic", "remote", conn.RemoteAddr().String(), "direction", "in")
		l.mu.Lock()
		l.inbound[conn] = inboundLink{site: site, since: time.Now()}
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			l.serveQUICConn(site, conn)
			l.mu.Lock()
			delete(l.inbound, conn)
			l.mu.Unlock()
		}()
	}
}

func (l *links) serveQUICConn(site string, conn *quic.Conn) {
	defer l.wg.Done()
	l.serveQUICStreams(site, "", conn)
	l.log.Info("link down", "peer", site, "transport", "quic", "direction", "in", "reason", context.Cause(conn.Context()))
}

// serveQUICStreams serves the streams a connection's far end opens.
func (l *links) serveQUICStreams(site, identity string, conn *quic.Conn) {
	for {
		s, err := conn.AcceptStream(l.ctx)
		if err != nil {
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.accept(l.ctx, site, identity, transportQUIC, quicStream{Stream: s, conn: conn})
		}()
	}
}

func (l *links) acceptTLS() {
	defer l.wg.Done()
	for {
		c, err := l.tlsLn.Accept()
		if err != nil {
			if l.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				l.log.Error("tls accept", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tc := tls.Server(newLinkConn(c.(*net.TCPConn)), l.serverTLS)
			ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
			err := tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				l.log.Warn("tls link refused", "remote", c.RemoteAddr().String(), "err", err)
				c.Close()
				return
			}
			if tc.ConnectionState().NegotiatedProtocol == acmez.ACMETLS1Protocol {
				tc.Close() // an ACME validation, answered by the handshake
				return
			}
			who, err := l.trust.Identify(tc.ConnectionState().PeerCertificates, time.Now())
			site, identity := who.Site, who.Identity
			if err != nil {
				tc.Close()
				return
			}
			key := linkKey{site: site, transport: transportTLS}
			if site == "" {
				// A query client: tracked so that shutdown closes it.
				if !l.trackTLS(tc, linkKey{transport: transportTLS}) {
					tc.Close()
					return
				}
				defer l.untrackTLS(tc)
				l.accept(l.ctx, "", identity, transportTLS, newTLSLink(tc))
				tc.Close()
				return
			}
			if !l.trackTLS(tc, key) {
				tc.Close()
				return
			}
			defer l.untrackTLS(tc)
			l.accept(l.ctx, site, "", transportTLS, newTLSLink(tc))
		}()
	}
}

func (l *links) trackTLS(c *tls.Conn, key linkKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil {
		return false
	}
	l.tlsConns[c] = key
	if key.site != "" {
		l.sawTLSLocked(c, key.site)
	}
	return true
}

// sawTLSLocked notes a TLS connection with a peer for the status.
func (l *links) sawTLSLocked(c *tls.Conn, site string) {
	seen := l.tlsSeen[site]
	if seen == nil {
		seen = &tlsPeerSeen{since: time.Now()}
		l.tlsSeen[site] = seen
	}
	seen.remote = c.RemoteAddr().String()
	seen.lastUsed = time.Now()
	if rtt := tcpRTT(c.NetConn()); rtt > 0 {
		seen.rtt = rtt
	}
}

func (l *links) untrackTLS(c *tls.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.tlsConns, c)
}

// transportFor picks the transport of a route to a peer: the route's, else
// QUIC when the peer offers it, else TLS.
func (l *links) transportFor(site, want string) (string, error) {
	p, ok := l.peers[site]
	if !ok {
		return "", fmt.Errorf("no peer %q is configured", site)
	}
	switch {
	case want == transportQUIC && p.QUIC == "":
		return "", fmt.Errorf("peer %s has no quic address", site)
	case want == transportTLS && p.TLS == "":
		return "", fmt.Errorf("peer %s has no tls address", site)
	case want != "":
		return want, nil
	case p.QUIC != "":
		return transportQUIC, nil
	}
	return transportTLS, nil
}

// open opens a stream to a peer: it writes the header and first bytes and
// returns once the peer answered, or with its refusal as *linkwire.Error.
func (l *links) open(ctx context.Context, site, transport string, liveness time.Duration, hdr linkwire.Header, first []byte) (relay.Stream, error) {
	transport, err := l.transportFor(site, transport)
	if err != nil {
		return nil, err
	}
	if liveness <= 0 {
		liveness = DefaultLiveness
	}
	key := linkKey{site: site, transport: transport, liveness: liveness}
	var s relay.Stream
	if transport == transportQUIC {
		s, err = l.openQUIC(ctx, key)
	} else {
		s, err = l.openTLS(ctx, key)
	}
	if err != nil {
		return nil, err
	}
	msg := append(hdr.Append(nil), first...)
	stop := context.AfterFunc(ctx, func() { s.Abort() })
	defer stop()
	if _, err := s.Write(msg); err != nil {
		s.Abort()
		return nil, fmt.Errorf("link to %s (%s): %w", site, transport, err)
	}
	if err := linkwire.ReadReply(s); err != nil {
		s.Abort()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("link to %s (%s): %w", site, transport, ctx.Err())
		}
		return nil, err
	}
	return s, nil
}

func (l *links) openQUIC(ctx context.Context, key linkKey) (relay.Stream, error) {
	ql, err := l.quicConn(ctx, key)
	if err != nil {
		return nil, err
	}
	// quicConn reserved a stream on ql.
	s, err := ql.conn.OpenStreamSync(ctx)
	if err != nil {
		ql.streams.Add(-1)
		l.dropQUIC(ql)
		return nil, fmt.Errorf("link to %s (quic): %w", key.site, err)
	}
	ql.lastUsed.Store(time.Now().UnixNano())
	return &countedStream{quicStream: quicStream{Stream: s, conn: ql.conn}, link: ql}, nil
}

// countedStream keeps a link's count of open streams.
type countedStream struct {
	quicStream
	link *quicLink
	once sync.Once
}

func (s *countedStream) done() {
	s.once.Do(func() {
		s.link.streams.Add(-1)
		s.link.lastUsed.Store(time.Now().UnixNano())
	})
}

func (s *countedStream) Close() error { s.done(); return s.quicStream.Close() }

func (s *countedStream) Abort() { s.done(); s.quicStream.Abort() }

// quicConn returns the live connection for key, dialling it when there is
// none; one dial at a time per key, spaced by a backoff after failures. It
// reserves a stream on the connection, which the caller releases.
func (l *links) quicConn(ctx context.Context, key linkKey) (*quicLink, error) {
	for {
		l.mu.Lock()
		if l.ctx.Err() != nil {
			l.mu.Unlock()
			return nil, errors.New("gateway is shutting down")
		}
		if ql, ok := l.quic[key]; ok && ql.conn.Context().Err() == nil {
			ql.streams.Add(1) // reserved under the lock: closeIdle sees it
			l.mu.Unlock()
			return ql, nil
		}
		if wait, ok := l.dialing[key]; ok {
			l.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if b := l.backoffs[key]; b != nil && time.Now().Before(b.next) {
			l.mu.Unlock()
			return nil, fmt.Errorf("link to %s (quic) is down (%v); next attempt in %v", key.site, b.lastErr, time.Until(b.next).Round(time.Millisecond))
		}
		done := make(chan struct{})
		l.dialing[key] = done
		l.mu.Unlock()

		ql, err := l.dialQUIC(ctx, key)
		if l.onDial != nil {
			l.onDial(key.site, transportQUIC, err)
		}

		l.mu.Lock()
		delete(l.dialing, key)
		close(done)
		if err != nil {
			if ctx.Err() == nil { // a caller that gave up says nothing of the peer
				l.failedLocked(key, err)
			}
			l.mu.Unlock()
			return nil, err
		}
		delete(l.backoffs, key)
		l.quic[key] = ql
		ql.streams.Add(1)
		l.mu.Unlock()
		l.wg.Add(1)
		go l.watchQUIC(ql)
		return ql, nil
	}
}

func (l *links) dialQUIC(ctx context.Context, key linkKey) (*quicLink, error) {
	p := l.peers[key.site]
	ua, err := net.ResolveUDPAddr("udp", p.QUIC)
	if err != nil {
		return nil, fmt.Errorf("link to %s (quic): %w", key.site, err)
	}
	tr, err := l.dialTransport()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := tr.Dial(dctx, ua, l.clientTLS(key.site), l.quicClientConfig(key.liveness))
	if err != nil {
		return nil, fmt.Errorf("link to %s (quic %s): %w", key.site, p.QUIC, err)
	}
	// The peer may accept on a connection we dialled: serve its streams.
	ql := &quicLink{key: key, conn: conn, since: time.Now()}
	ql.lastUsed.Store(time.Now().UnixNano())
	l.log.Info("link up", "peer", key.site, "transport", "quic", "remote", p.QUIC, "direction", "out", "liveness", key.liveness)
	l.wg.Add(1)
	go l.serveQUICConn(key.site, conn)
	return ql, nil
}

// dialTransport returns the QUIC transport to dial from: the listener's
// UDP socket when there is one, else a socket of its own.
func (l *links) dialTransport() (*quic.Transport, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.transport != nil {
		return l.transport, nil
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return nil, fmt.Errorf("quic: %w", err)
	}
	forceUDPBuffers(udp)
	l.udp = udp
	l.transport = &quic.Transport{Conn: udp}
	checkUDPBuffers(udp, l.log)
	return l.transport, nil
}

// watchQUIC forgets a connection when it ends.
func (l *links) watchQUIC(ql *quicLink) {
	defer l.wg.Done()
	<-ql.conn.Context().Done()
	l.dropQUIC(ql)
	if l.ctx.Err() == nil {
		l.log.Warn("link down", "peer", ql.key.site, "transport", "quic", "direction", "out", "reason", context.Cause(ql.conn.Context()))
	}
}

func (l *links) dropQUIC(ql *quicLink) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.quic[ql.key] == ql {
		delete(l.quic, ql.key)
	}
}

// openTLS dials one TLS connection for one relayed connection. TCP
// keep-alives and a user timeout derived from the route's liveness bound
// how long a dead peer goes unnoticed.
func (l *links) openTLS(ctx context.Context, key linkKey) (relay.Stream, error) {
	l.mu.Lock()
	if b := l.backoffs[key]; b != nil && time.Now().Before(b.next) {
		l.mu.Unlock()
		return nil, fmt.Errorf("link to %s (tls) is down (%v); next attempt in %v", key.site, b.lastErr, time.Until(b.next).Round(time.Millisecond))
	}
	l.mu.Unlock()
	p := l.peers[key.site]
	tc, err := l.dialTLS(ctx, key, p.TLS)
	if l.onDial != nil {
		l.onDial(key.site, transportTLS, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("link to %s (tls %s): %w", key.site, p.TLS, err)
		if ctx.Err() == nil {
			l.failedLocked(key, err)
		}
		return nil, err
	}
	delete(l.backoffs, key)
	l.tlsConns[tc] = key
	l.sawTLSLocked(tc, key.site)
	return &trackedTLS{tlsLink: newTLSLink(tc), l: l}, nil
}

// dialTLS dials a TLS link connection over a linkConn.
func (l *links) dialTLS(ctx context.Context, key linkKey, addr string) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nd := &net.Dialer{KeepAliveConfig: keepAliveFor(key.liveness), Control: userTimeoutControl(key.liveness)}
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(newLinkConn(raw.(*net.TCPConn)), l.clientTLS(key.site))
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

// trackedTLS forgets its connection when closed.
type trackedTLS struct {
	*tlsLink
	l *links
}

func (t *trackedTLS) Close() error {
	t.l.untrackTLS(t.Conn)
	return t.Conn.Close()
}

func (t *trackedTLS) Abort() { t.Close() }

func keepAliveFor(liveness time.Duration) net.KeepAliveConfig {
	if liveness <= 0 {
		liveness = DefaultLiveness
	}
	idle := max(liveness/3, time.Second)
	return net.KeepAliveConfig{Enable: true, Idle: idle, Interval: max(liveness/6, time.Second), Count: 3}
}

// applyLiveness gives an accepted TLS link connection the liveness of the
// route the peer asked for (clamped to 1s..10m): TCP keep-alives and a user
// timeout, so that a dead peer ends the relay within it, as the dialling
// side does.
func applyLiveness(s relay.Stream, liveness time.Duration) {
	nc, ok := s.(interface{ NetConn() net.Conn })
	if !ok {
		return
	}
	var tcp *net.TCPConn
	switch c := nc.NetConn().(type) {
	case *linkConn:
		tcp = c.TCPConn
	case *net.TCPConn:
		tcp = c
	default:
		return
	}
	if liveness <= 0 {
		liveness = DefaultLiveness
	}
	liveness = min(max(liveness, time.Second), 10*time.Minute)
	tcp.SetKeepAliveConfig(keepAliveFor(liveness))
	if rc, err := tcp.SyscallConn(); err == nil {
		userTimeoutControl(liveness)("", "", rc)
	}
}

// userTimeoutControl sets TCP_USER_TIMEOUT: unacknowledged data older than
// the liveness timeout ends the connection.
func userTimeoutControl(liveness time.Duration) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(liveness.Milliseconds()))
		})
		return serr
	}
}

// LinkStatus describes one link for `distgate status`.
type LinkStatus struct {
	Peer      string        `json:"peer"`
	Transport string        `json:"transport"`
	Direction string        `json:"direction"`
	Remote    string        `json:"remote"`
	Liveness  time.Duration `json:"liveness_ns,omitempty"`
	RTT       time.Duration `json:"rtt_ns"`
	Streams   int64         `json:"streams"`
	Since     time.Time     `json:"since"`
	BytesOut  uint64        `json:"bytes_out"`
	BytesIn   uint64        `json:"bytes_in"`
	Down      string        `json:"down,omitempty"` // why the last dial failed
}

// status lists the links: QUIC connections this gateway dialled, TLS
// connections grouped by peer, and links in backoff.
func (l *links) status() []LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LinkStatus
	for _, ql := range l.quic {
		st := ql.conn.ConnectionStats()
		out = append(out, LinkStatus{
			Peer: ql.key.site, Transport: transportQUIC, Direction: "out", Remote: ql.conn.RemoteAddr().String(),
			Liveness: ql.key.liveness, RTT: st.SmoothedRTT, Streams: ql.streams.Load(), Since: ql.since,
			BytesOut: st.BytesSent, BytesIn: st.BytesReceived,
		})
	}
	for conn, in := range l.inbound {
		st := conn.ConnectionStats()
		out = append(out, LinkStatus{
			Peer: in.site, Transport: transportQUIC, Direction: "in", Remote: conn.RemoteAddr().String(),
			RTT: st.SmoothedRTT, Since: in.since, BytesOut: st.BytesSent, BytesIn: st.BytesReceived,
		})
	}
	active := map[string]int64{}
	for _, key := range l.tlsConns {
		if key.site != "" {
			active[key.site]++
		}
	}
	for site, seen := range l.tlsSeen {
		out = append(out, LinkStatus{Peer: site, Transport: transportTLS, Direction: "both", Remote: seen.remote,
			RTT: seen.rtt, Streams: active[site], Since: seen.since})
	}
	for key, b := range l.backoffs {
		out = append(out, LinkStatus{Peer: key.site, Transport: key.transport, Direction: "out", Liveness: key.liveness, Down: b.lastErr.Error()})
	}
	return out
}

// tcpRTT reads the kernel's smoothed round-trip time of a TCP connection.
func tcpRTT(c net.Conn) time.Duration {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var rtt time.Duration
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			rtt = time.Duration(info.Rtt) * time.Microsecond
		}
	})
	return rtt
}

// close stops the listeners, closes every link and waits for them.
func (l *links) close() {
	l.cancel()
	if l.quicLn != nil {
		l.quicLn.Close()
	}
	if l.tlsLn != nil {
		l.tlsLn.Close()
	}
	l.mu.Lock()
	for _, ql := range l.quic {
		ql.conn.CloseWithError(codeGoingAway, "gateway shutting down")
	}
	for conn := range l.inbound {
		conn.CloseWithError(codeGoingAway, "gateway shutting down")
	}
	for c := range l.tlsConns {
		c.NetConn().Close()
	}
	l.mu.Unlock()
	if l.transport != nil {
		l.transport.Close()
	}
	l.wg.Wait()
}
