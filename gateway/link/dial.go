package link

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"

	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/relay"
)

// transportFor picks the transport of a route to a peer: the route's, else
// QUIC when the peer offers it, else TLS.
func (m *Manager) transportFor(site string, want Transport) (Transport, error) {
	p, ok := m.peer(site)
	if !ok {
		return Auto, fmt.Errorf("no peer %q is configured", site)
	}
	switch {
	case want == QUIC && len(p.QUIC) == 0:
		return Auto, fmt.Errorf("peer %s has no quic address", site)
	case want == TLS && len(p.TLS) == 0:
		return Auto, fmt.Errorf("peer %s has no tls address", site)
	case want != Auto:
		return want, nil
	case len(p.QUIC) > 0:
		return QUIC, nil
	}
	return TLS, nil
}

// Open opens a stream to a peer over transport (Auto: the peer's
// preference) with the route's liveness (0: the default): it writes the
// header and first bytes, and returns once the peer answered, with the
// transport it took, or with the peer's refusal as a *linkwire.Error.
func (m *Manager) Open(ctx context.Context, site string, transport Transport, liveness time.Duration, hdr linkwire.Header, first []byte) (relay.Stream, Transport, error) {
	transport, err := m.transportFor(site, transport)
	if err != nil {
		return nil, transport, err
	}
	if liveness <= 0 {
		liveness = m.cfg.DefaultLiveness
	}
	key := linkKey{site: site, transport: transport, liveness: liveness}
	msg := append(hdr.Append(nil), first...)
	if transport == TLS {
		s, err := m.openTLS(ctx, key, msg)
		return s, transport, err
	}
	s, err := m.openQUIC(ctx, key)
	if err != nil {
		return nil, transport, err
	}
	if err := exchange(ctx, s, msg, site, transport); err != nil {
		return nil, transport, err
	}
	return s, transport, nil
}

// exchange writes a relay's header and first frame on its new stream
// and reads the peer's reply (a refusal is a *linkwire.Error); it aborts
// the stream when it fails or ctx ends first.
func exchange(ctx context.Context, s relay.Stream, msg []byte, site string, t Transport) error {
	stop := context.AfterFunc(ctx, func() { s.Abort() })
	defer stop()
	if _, err := s.Write(msg); err != nil {
		s.Abort()
		return fmt.Errorf("link to %s (%s): %w", site, t, err)
	}
	if err := linkwire.ReadReply(s); err != nil {
		s.Abort()
		if ctx.Err() != nil {
			return fmt.Errorf("link to %s (%s): %w", site, t, ctx.Err())
		}
		return err
	}
	return nil
}

func (m *Manager) openQUIC(ctx context.Context, key linkKey) (relay.Stream, error) {
	ql, err := m.quicConn(ctx, key)
	if err != nil {
		return nil, err
	}
	// quicConn reserved a stream on ql.
	s, err := ql.conn.OpenStreamSync(ctx)
	if err != nil {
		ql.streams.Add(-1)
		m.dropQUIC(ql)
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
func (m *Manager) quicConn(ctx context.Context, key linkKey) (*quicLink, error) {
	ql, dialed, err := dialOnce(m, ctx, key, QUIC,
		func() (*quicLink, bool) {
			ql, ok := m.quic[key]
			if !ok || ql.conn.Context().Err() != nil {
				return nil, false
			}
			ql.streams.Add(1) // reserved under the lock: closeIdle sees it
			return ql, true
		},
		m.dialQUIC,
		func(ql *quicLink) {
			m.quic[key] = ql
			ql.streams.Add(1)
		})
	if err != nil {
		return nil, err
	}
	if dialed {
		m.wg.Add(2)
		go m.watchQUIC(ql)
		go m.quicControl(ql)
	}
	return ql, nil
}

// dialOnce returns the live link of key, dialling one when there is none:
// the loop shared by QUIC links (quicConn) and the control connections of
// TLS links (tlsControl).
//
// Under m.mu it fails once the gateway is shutting down, then returns what
// existing finds (existing runs under m.mu and may reserve the link it
// returns). Otherwise one dial at a time per key: a caller finding a dial of
// key in progress waits for it (or for ctx) and looks again; a key whose
// backoff refuses is not dialled. The dial runs without the lock, and
// cfg.OnDial hears of it as transport t. A failed dial feeds the key's
// backoff, unless ctx ended (a caller that gave up says nothing of the
// peer); a successful one clears the backoff and is registered by install,
// under m.mu. dialed reports a fresh dial, after which the caller starts
// what a new link needs, without the lock.
func dialOnce[L any](m *Manager, ctx context.Context, key linkKey, t Transport,
	existing func() (L, bool),
	dial func(context.Context, linkKey) (L, error),
	install func(L),
) (l L, dialed bool, err error) {
	var zero L
	for {
		m.mu.Lock()
		if m.ctx.Err() != nil {
			m.mu.Unlock()
			return zero, false, errors.New("gateway is shutting down")
		}
		if l, ok := existing(); ok {
			m.mu.Unlock()
			return l, false, nil
		}
		if wait, ok := m.dialing[key]; ok {
			m.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return zero, false, ctx.Err()
			}
		}
		if err := m.backoffs[key].refuse(key, time.Now()); err != nil {
			m.mu.Unlock()
			return zero, false, err
		}
		done := make(chan struct{})
		m.dialing[key] = done
		m.mu.Unlock()

		l, err := dial(ctx, key)
		if m.cfg.OnDial != nil {
			m.cfg.OnDial(key.site, t, err)
		}

		m.mu.Lock()
		delete(m.dialing, key)
		close(done)
		if err != nil {
			if ctx.Err() == nil { // a caller that gave up says nothing of the peer
				m.failedLocked(key, err, time.Now())
			}
			m.mu.Unlock()
			return zero, false, err
		}
		delete(m.backoffs, key)
		install(l)
		m.mu.Unlock()
		return l, true, nil
	}
}

// failedLocked notes a failed dial of a link.
func (m *Manager) failedLocked(key linkKey, err error, now time.Time) {
	b := m.backoffs[key]
	if b == nil {
		b = &backoff{}
		m.backoffs[key] = b
	}
	b.failed(err, now)
}

func (m *Manager) dialQUIC(ctx context.Context, key linkKey) (*quicLink, error) {
	p, _ := m.peer(key.site)
	tr, reader, err := m.dialTransport()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	conn, addr, err := race(ctx, &m.wg, m.order(expand(ctx, p.QUIC)), dialStagger, func(ctx context.Context, addr string) (*quic.Conn, error) {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, err
		}
		dctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
		defer cancel()
		// The edges of a peer site share its server name, and so one
		// session ticket: another edge than the ticket's answers with a
		// full handshake.
		return tr.Dial(dctx, ua, m.clientTLS(key.site, m.quicSessions), m.quicClientConfig(key.liveness))
	}, func(c *quic.Conn) { c.CloseWithError(codeGoingAway, "another edge answered first") }, m.noteDial)
	if err != nil {
		return nil, fmt.Errorf("link to %s (quic %v): %w", key.site, p.QUIC, err)
	}
	reader.track(conn)
	// The peer may accept on a connection we dialled: serve its streams.
	ql := &quicLink{key: key, addr: addr, conn: conn, since: time.Now()}
	ql.lastUsed.Store(time.Now().UnixNano())
	m.changed(State{Peer: key.site, Transport: QUIC, Direction: dirOut, Remote: addr, Liveness: key.liveness, Up: true,
		Handshake: time.Since(start), Resumed: conn.ConnectionState().TLS.DidResume, KeyExchange: conn.ConnectionState().TLS.CurveID})
	own := key.site == m.cfg.Site // an agent's link to an edge of its site
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.serveQUICStreams(From{Site: key.site, Transport: QUIC, Member: own, Edge: own}, conn)
	}()
	return ql, nil
}

// dialTransport returns the QUIC transport to dial from: the listener's
// UDP socket when there is one, else a socket of its own.
func (m *Manager) dialTransport() (*quic.Transport, *yieldingConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.transport != nil {
		return m.transport, m.udpReader, nil
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return nil, nil, fmt.Errorf("quic: %w", err)
	}
	forceUDPBuffers(udp)
	m.udp = udp
	m.udpReader = newYieldingConn(udp)
	m.transport = &quic.Transport{Conn: m.udpReader, ConnectionIDGenerator: m.udpReader.cids}
	checkUDPBuffers(udp, m.log)
	return m.transport, m.udpReader, nil
}

// watchQUIC forgets a connection when it ends and reports the link down:
// unless the link was let go (here or by the peer), it notes it down for
// the status until it is dialled again.
func (m *Manager) watchQUIC(ql *quicLink) {
	defer m.wg.Done()
	<-ql.conn.Context().Done()
	m.dropQUIC(ql)
	cause := context.Cause(ql.conn.Context())
	failed := quicFailed(cause)
	if m.ctx.Err() == nil && (failed || goingAway(cause)) {
		// A link that died, or whose edge went away, tells against its
		// address: the next dial tries the peer's other edges first.
		m.noteDial(ql.addr, cause)
	}
	m.mu.Lock()
	m.endedLocked(ql.key.site, QUIC).addQUIC(ql.conn)
	if _, ok := m.quic[ql.key]; !ok && failed && m.ctx.Err() == nil { // not dialled again meanwhile
		m.failedLocked(ql.key, fmt.Errorf("link down: %w", cause), time.Now())
	}
	m.mu.Unlock()
	if m.ctx.Err() == nil {
		m.changed(State{Peer: ql.key.site, Transport: QUIC, Direction: dirOut, Remote: ql.conn.RemoteAddr().String(),
			Liveness: ql.key.liveness, Reason: cause, Failed: failed})
	}
}

// goingAway reports whether the peer let a QUIC connection go because it
// is shutting down or found the link unused.
func goingAway(cause error) bool {
	var ae *quic.ApplicationError
	return errors.As(cause, &ae) && ae.Remote && ae.ErrorCode == codeGoingAway
}

// quicFailed reports whether a QUIC link ended by failing: not let go by
// either side (an unused link, a gateway shutting down). A link whose
// control stream heard nothing for its liveness (codeSilent), here or at
// the peer, failed.
func quicFailed(cause error) bool {
	var ae *quic.ApplicationError
	if !errors.As(cause, &ae) {
		return true
	}
	switch {
	case ae.ErrorCode == codeSilent:
		return true
	case !ae.Remote: // let go here
		return false
	}
	return ae.ErrorCode != codeGoingAway
}

func (m *Manager) dropQUIC(ql *quicLink) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.quic[ql.key] == ql {
		delete(m.quic, ql.key)
	}
}

// openTLS dials one TLS connection for one relayed connection, once the
// link's control connection is up (control.go): it ends the relay when
// the peer stops answering. TCP keep-alives and a user timeout derived
// from the route's liveness bound how long a dead peer goes unnoticed
// when the peer keeps no control connection. Then it writes msg and
// reads the peer's reply (exchange).
//
// The connection's handshake waits for one of the peer's handshake slots
// (Config.TLSDials): a burst of relays (a thousand connections across a
// WAN, on a loaded machine) queues there. That wait is bounded by
// Config.TLSDialWait and does not count against ctx's deadline, which
// is the relay's budget for its own work (the caller's HandshakeTimeout):
// otherwise the last relays of a burst would spend theirs in the queue
// and time out before their turn.
func (m *Manager) openTLS(ctx context.Context, key linkKey, msg []byte) (relay.Stream, error) {
	ctl, err := m.tlsControl(ctx, key)
	if err != nil {
		return nil, err
	}
	release, waited, err := m.tlsTurn(ctx, key.site)
	if err != nil {
		return nil, fmt.Errorf("link to %s (tls %s): %w", key.site, ctl.remote, err)
	}
	ctx, cancel := laterDeadline(ctx, waited)
	defer cancel()
	// To the edge of the link's control connection, which answers for it.
	tc, err := m.dialTLS(ctx, key, ctl.remote) // a relay's: OnDial counts the link's (tlsControl)
	release()
	m.mu.Lock()
	if err != nil {
		err = fmt.Errorf("link to %s (tls %s): %w", key.site, ctl.remote, err)
		if ctx.Err() == nil {
			m.failedLocked(key, err, time.Now())
		}
		m.mu.Unlock()
		return nil, err
	}
	if ctl.isDead() || m.ctx.Err() != nil { // its relays were closed, or are being
		m.mu.Unlock()
		tc.Close()
		return nil, fmt.Errorf("link to %s (tls %s) went down", key.site, ctl.remote)
	}
	m.tlsConns[tc] = &tlsConnInfo{key: key, dir: dirOut, since: time.Now()}
	ctl.lastUsed.Store(time.Now().UnixNano())
	m.mu.Unlock()
	s := &trackedTLS{tlsLink: newTLSLink(tc), m: m, ctl: ctl}
	if err := exchange(ctx, s, msg, key.site, TLS); err != nil {
		return nil, err
	}
	return s, nil
}

// tlsTurn waits for one of a peer's TLS handshake slots (Config.TLSDials)
// for at most Config.TLSDialWait; release gives it back. ctx's deadline
// does not end the wait (see openTLS), its cancellation and the
// gateway's shutdown do.
func (m *Manager) tlsTurn(ctx context.Context, site string) (release func(), waited time.Duration, err error) {
	sem := m.tlsDials[site]
	if sem == nil {
		return func() {}, 0, nil
	}
	start := time.Now()
	select { // the common case: a free slot
	case sem <- struct{}{}:
		return func() { <-sem }, 0, nil
	default:
	}
	t := time.NewTimer(m.cfg.TLSDialWait)
	defer t.Stop()
	done := ctx.Done()
	for {
		select {
		case sem <- struct{}{}:
			return func() { <-sem }, time.Since(start), nil
		case <-t.C:
			return nil, 0, fmt.Errorf("no TLS handshake slot free for %v (%d handshakes in progress)", m.cfg.TLSDialWait, cap(sem))
		case <-done:
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				done = nil // the deadline is the relay's, after its turn
				continue
			}
			return nil, 0, ctx.Err()
		case <-m.ctx.Done():
			return nil, 0, errors.New("gateway is shutting down")
		}
	}
}

// laterDeadline returns a context whose deadline is ctx's moved on by d,
// cancelled with ctx unless ctx merely reached its deadline.
func laterDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok || d <= 0 {
		return context.WithCancel(ctx)
	}
	later, cancel := context.WithDeadline(context.WithoutCancel(ctx), dl.Add(d))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return later, func() { stop(); cancel() }
}

// trackedTLS forgets its connection when closed.
type trackedTLS struct {
	*tlsLink
	m   *Manager
	ctl *control
}

func (t *trackedTLS) Close() error {
	t.m.untrackTLS(t.Conn)
	t.ctl.lastUsed.Store(time.Now().UnixNano())
	return t.Conn.Close()
}

func (t *trackedTLS) Abort() { t.Close() }

// clientTLS is the configuration for dialling a peer. Sessions keeps the
// peers' session tickets between dials (one cache per transport, since
// quic-go keeps data of its own in its tickets): a link or relay
// connection dialled again resumes, which spares both ends the
// certificates' signatures and verification and the peer its certificate
// chain on the wire. The peer is still checked: VerifyConnection runs on
// resumed connections too, with the certificates of the first handshake.
func (m *Manager) clientTLS(site string, sessions tls.ClientSessionCache) *tls.Config {
	trust := m.cfg.Trust
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		NextProtos:           []string{alpnLink},
		ServerName:           trust.ServerName(site),
		InsecureSkipVerify:   true, // verified by VerifyConnection against the pin or the CA
		GetClientCertificate: m.cfg.Certs.GetClientCertificate,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return trust.VerifyPeer(site, cs.PeerCertificates, time.Now())
		},
		ClientSessionCache: sessions,
	}
}

func (m *Manager) quicServerConfig() *quic.Config {
	// The idle timeout is the smaller of both ends': the dialling side's
	// route liveness decides, the accepting side only bounds it.
	// Flow-control windows are quic-go's (512 KiB per stream at first,
	// doubled as the reader keeps up, up to 6 MiB; 15 MiB per
	// connection): across the WAN bench the congestion window stays below
	// them (3.1 to 3.7 MB at 40 ms without loss, the path's bandwidth-
	// delay product and its queue; 20 KB at 1% loss), a qlog shows the
	// stream blocked only in its first round trips, and larger windows
	// from the start only made the first round trips burst harder. The
	// connection's window bounds what a peer can make a link buffer.
	// QLOGDIR in the environment turns quic-go's qlogs on (a bench's
	// tool: see the README's WAN section).
	return &quic.Config{
		MaxIdleTimeout:       m.cfg.AcceptIdle,
		HandshakeIdleTimeout: m.cfg.DialTimeout,
		MaxIncomingStreams:   1 << 16,
		Tracer:               qlog.DefaultConnectionTracer,
	}
}

// quicClientConfig is the configuration of a QUIC link with a liveness.
// quic-go sends a keep-alive once the connection has received nothing for
// KeepAlivePeriod, and closes it when nothing has come for MaxIdleTimeout
// since the later of the last packet received and the first one sent
// after it: a peer that goes silent right after a packet is noticed after
// KeepAlivePeriod plus MaxIdleTimeout. Their sum is the liveness, so that
// the link ends within it (not up to a keep-alive period later), and
// never sooner than three quarters of it.
func (m *Manager) quicClientConfig(liveness time.Duration) *quic.Config {
	keepAlive := liveness / pingsPerLiveness
	return &quic.Config{
		MaxIdleTimeout:       liveness - keepAlive,
		KeepAlivePeriod:      keepAlive,
		HandshakeIdleTimeout: min(liveness, m.cfg.DialTimeout),
		MaxIncomingStreams:   1 << 16,
		Tracer:               qlog.DefaultConnectionTracer,
	}
}
