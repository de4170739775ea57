package link

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/relay"
)

// The liveness of links. A peer gateway that stops (a SIGSTOP, a stalled
// VM) still has a kernel that acknowledges TCP keep-alives and data, so
// TCP alone never notices it; and QUIC's idle timeout counts from the
// first packet a side sends after the last one it received, so a side
// with something to send notices late. So every link carries a control
// stream (linkwire KindControl) that the dialling side opens with the
// route's liveness: over TLS a connection of its own per (peer,
// liveness), opened before the first relay; over QUIC a stream of the
// link's connection. The dialling side sends a ping a pingsPerLiveness-th
// of the liveness apart, the accepting side answers each with a pong, and
// a side that hears nothing for the liveness declares the link dead: it
// closes the link's relays in its direction (TLS) or the link's
// connection (QUIC), so the nodes see their connections close at once,
// and the status shows the link down until it is dialled again. Over
// QUIC, the accepting side watches the connection itself, whether or not
// its control stream came (quiet.go). A peer that does not serve control
// streams (an older gateway) gets links without them, as before: TCP
// keep-alives and the user timeout, or QUIC's idle timeout.

// pingsPerLiveness is how many pings the dialling side sends per liveness:
// nothing heard for the liveness is that many pings or pongs missed.
const pingsPerLiveness = 4

// quietChecks is how many times per liveness a QUIC link's control stream
// looks at the bytes its connection received, when no control message
// came (control.read).
const quietChecks = 20

// Directions of a link.
const (
	dirOut = "out" // this gateway dialled it
	dirIn  = "in"  // a peer dialled it
)

// tlsConnInfo is what the Manager knows of a live TLS link connection.
type tlsConnInfo struct {
	key   linkKey // a relay's liveness once known; 0 for query clients
	dir   string
	ctl   bool // a control connection
	since time.Time
}

// ctlStream is a control stream: a TLS connection or a QUIC stream.
type ctlStream interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// control is the control stream of a link, either direction.
type control struct {
	key       linkKey
	dir       string
	s         ctlStream // nil when unsupported
	tls       *tls.Conn // the TLS connection, over TLS
	quic      *quic.Conn
	qs        *quic.Stream // the stream, over QUIC
	remote    string
	since     time.Time
	supported bool          // false: the peer answered that it serves no control streams
	watched   bool          // quietInbound watches the QUIC connection (a peer dialled it): read only answers
	handshake time.Duration // of a TLS control connection dialled here
	resumed   bool          // whether that handshake resumed a session
	curve     tls.CurveID   // its key exchange
	synData   bool          // whether its SYN carried the ClientHello

	rtt        atomic.Int64 // of the last pong, in ns
	lastUsed   atomic.Int64 // Unix ns when a relay of the link began or ended (TLS)
	idleClosed atomic.Bool  // this gateway let the link go

	endedIn, endedOut atomic.Uint64 // bytes of the link's TLS relays that ended

	wmu  sync.Mutex // serializes writes: pings, pongs
	dead chan struct{}
	once sync.Once
}

func newControl(key linkKey, dir string, s ctlStream, remote string) *control {
	c := &control{key: key, dir: dir, s: s, remote: remote, since: time.Now(), supported: true, dead: make(chan struct{})}
	c.lastUsed.Store(c.since.UnixNano())
	return c
}

func (c *control) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// stop ends the control stream, once: over TLS it closes the control
// connection; over QUIC it resets the stream, or with kill (the link heard
// nothing for its liveness) closes the link's connection with codeSilent,
// saying why.
func (c *control) stop(kill bool, why error) {
	c.once.Do(func() {
		close(c.dead)
		switch {
		case c.tls != nil:
			c.tls.NetConn().Close()
		case c.quic != nil && kill:
			c.quic.CloseWithError(codeSilent, fmt.Sprint(why))
		case c.qs != nil:
			c.qs.CancelRead(codeAborted)
			c.qs.CancelWrite(codeAborted)
		}
	})
}

// write sends a control message within the liveness.
func (c *control) write(p linkwire.Ping) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.s.SetWriteDeadline(time.Now().Add(c.key.liveness))
	_, err := c.s.Write(p.Append(nil))
	return err
}

// errSilent says a link heard nothing for its liveness.
var errSilent = errors.New("nothing heard: the peer gateway stopped, or the network is cut")

// read reads control messages until nothing comes for the liveness or the
// stream fails, answering pings and timing pongs; it returns why it
// stopped. Over QUIC, any packet the connection receives counts as heard:
// the control stream shares the connection with the relays' streams, and
// a saturated lossy link (a thousand busy streams over a small congestion
// window) may hold its pings back for longer than the liveness while the
// peer is plainly alive. The connection's bytes received are checked
// every quietChecks-th of the liveness: a packet counts as heard at the
// check that sees it, so a silent peer is found within the liveness and
// that much more (at first every pingsPerLiveness-th, which let a cut
// link at 3 s go unnoticed for 3.65 s: TestLinkLiveness/quic/cut). On a
// QUIC link a peer dialled, the connection's watcher does that check
// (quietInbound), and read only answers pings until the stream ends.
func (c *control) read() error {
	heard, lastIn := time.Now(), c.packetsIn()
	var b [linkwire.PingLen]byte // a message, kept across deadlines
	n := 0
	for {
		switch {
		case c.watched:
			c.s.SetReadDeadline(time.Time{})
		case c.quic != nil:
			c.s.SetReadDeadline(time.Now().Add(max(c.key.liveness/quietChecks, 10*time.Millisecond)))
		default:
			c.s.SetReadDeadline(time.Now().Add(c.key.liveness))
		}
		m, err := c.s.Read(b[n:])
		n += m
		if m > 0 {
			heard = time.Now()
		}
		if n < len(b) {
			switch {
			case err == nil:
				continue
			case errors.Is(err, os.ErrDeadlineExceeded):
				now := time.Now()
				if in := c.packetsIn(); in != lastIn {
					heard, lastIn = now, in
				}
				if c.quic != nil && now.Sub(heard) < c.key.liveness {
					continue
				}
				return fmt.Errorf("%w for %v", errSilent, c.key.liveness)
			case errors.Is(err, io.EOF) && n > 0:
				return fmt.Errorf("control message: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("control message: %w", err)
		}
		n = 0
		p, err := linkwire.ParsePing(b[:])
		if err != nil {
			return err
		}
		if p.Pong {
			// A ping's Seq is when it was sent, in ns since the link began.
			c.rtt.Store(int64(time.Since(c.since)) - int64(p.Seq))
			continue
		}
		if err := c.write(linkwire.Ping{Pong: true, Seq: p.Seq}); err != nil {
			return err
		}
	}
}

// packetsIn is how many authenticated packets a QUIC link's connection
// has processed so far (0 over TLS, where the control connection has a TCP
// connection of its own). Not its bytes received: quic-go counts those
// before decrypting, so junk datagrams with the link's connection ID would
// count as heard (see quietInbound).
func (c *control) packetsIn() uint64 {
	if c.quic == nil {
		return 0
	}
	return c.quic.ConnectionStats().PacketsReceived
}

// ping sends a ping every pingsPerLiveness-th of the liveness until the
// link ends.
func (c *control) ping() {
	tick := time.NewTicker(max(c.key.liveness/pingsPerLiveness, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-c.dead:
			return
		case <-tick.C:
			if err := c.write(linkwire.Ping{Seq: uint64(time.Since(c.since))}); err != nil {
				return // the reader fails too, or hears nothing, and says why
			}
		}
	}
}

// run pings the control stream of a link this gateway dialled and reads
// its pongs until the link ends; the caller added to m.wg.
func (m *Manager) runControl(c *control) {
	defer m.wg.Done()
	var wg sync.WaitGroup
	wg.Go(c.ping)
	m.controlEnded(c, c.read()) // stops c: the pinger ends
	wg.Wait()
}

// openControl writes a control header on s and reads the peer's answer:
// nil, or errNoControl when the peer serves no control streams.
func (m *Manager) openControl(s ctlStream, key linkKey) error {
	deadline := time.Now().Add(m.cfg.DialTimeout)
	s.SetReadDeadline(deadline)
	s.SetWriteDeadline(deadline)
	_, err := s.Write(linkwire.Header{Kind: linkwire.KindControl, Liveness: key.liveness}.Append(nil))
	if err == nil {
		err = linkwire.ReadReply(s)
	}
	var refused *linkwire.Error
	if errors.As(err, &refused) && refused.Status == linkwire.StatusBadRequest {
		m.log.Warn("peer gateway keeps no liveness on links (an older version): a stopped peer goes unnoticed until TCP or QUIC gives up",
			"peer", key.site, "transport", key.transport, "reply", refused.Message)
		return errNoControl
	}
	s.SetReadDeadline(time.Time{})
	s.SetWriteDeadline(time.Time{})
	return err
}

// errNoControl says a peer serves no control streams.
var errNoControl = errors.New("the peer serves no control streams")

// tlsControl returns the live control connection of a TLS link, dialling
// it when there is none: one dial at a time per key, spaced by a backoff
// after failures.
func (m *Manager) tlsControl(ctx context.Context, key linkKey) (*control, error) {
	c, dialed, err := dialOnce(m, ctx, key, TLS,
		func() (*control, bool) {
			c, ok := m.tlsCtls[key]
			return c, ok && !c.isDead()
		},
		m.dialTLSControl,
		func(c *control) {
			m.tlsCtls[key] = c
			if c.supported {
				m.tlsConns[c.tls] = &tlsConnInfo{key: key, dir: dirOut, ctl: true, since: c.since}
				m.wg.Add(1)
				go m.runControl(c)
			}
		})
	if err != nil {
		return nil, err
	}
	if dialed {
		m.changed(State{Peer: key.site, Transport: TLS, Direction: dirOut, Remote: c.remote, Liveness: key.liveness, Up: true,
			Handshake: c.handshake, Resumed: c.resumed, KeyExchange: c.curve, SYNData: c.synData})
	}
	return c, nil
}

// dialTLSControl dials the control connection of a TLS link.
func (m *Manager) dialTLSControl(ctx context.Context, key linkKey) (*control, error) {
	p, _ := m.peer(key.site)
	start := time.Now()
	tc, addr, err := race(ctx, &m.wg, m.order(expand(ctx, p.TLS)), dialStagger, func(ctx context.Context, addr string) (*tls.Conn, error) {
		return m.dialTLS(ctx, key, addr)
	}, func(c *tls.Conn) { c.Close() }, m.noteDial)
	handshake := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("link to %s (tls %v): %w", key.site, p.TLS, err)
	}
	c := newControl(key, dirOut, tc, addr)
	switch err := m.openControl(tc, key); {
	case errors.Is(err, errNoControl):
		tc.Close()
		c.supported, c.s = false, nil
		return c, nil
	case err != nil:
		tc.Close()
		return nil, fmt.Errorf("link to %s (tls %s): control: %w", key.site, addr, err)
	}
	c.tls = tc
	cs := tc.ConnectionState()
	c.handshake, c.resumed, c.curve = handshake, cs.DidResume, cs.CurveID
	c.synData = synData(tc.NetConn().(*linkConn).TCPConn)
	return c, nil
}

// quicControl opens the control stream of a QUIC link this gateway
// dialled and keeps it until the link ends; the caller added to m.wg.
func (m *Manager) quicControl(ql *quicLink) {
	s, err := ql.conn.OpenStreamSync(m.ctx)
	if err != nil {
		m.wg.Done()
		return // the link is gone already
	}
	c := newControl(ql.key, dirOut, s, ql.conn.RemoteAddr().String())
	c.quic, c.qs = ql.conn, s
	if err := m.openControl(s, ql.key); err != nil {
		c.stop(false, nil)
		m.wg.Done()
		if !errors.Is(err, errNoControl) {
			m.log.Warn("link control stream", "peer", ql.key.site, "transport", QUIC, "err", err)
		}
		return
	}
	m.runControl(c)
}

// ServeControl serves a control stream a peer gateway opened on a link
// with the route's liveness (clamped by the caller): it answers its pings
// until nothing comes for the liveness, then ends the link's relays in
// that direction (TLS); over QUIC, the link's connection is watched for
// the liveness (quietInbound), which ends it. A control stream from
// anyone else is answered StatusBadRequest.
func (m *Manager) ServeControl(from From, s relay.Stream, liveness time.Duration) {
	var c *control
	key := linkKey{site: from.Site, transport: from.Transport, liveness: liveness}
	switch st := s.(type) {
	case *tlsLink:
		c = newControl(key, dirIn, st.Conn, st.RemoteAddr().String())
		c.tls = st.Conn
	case quicStream:
		c = newControl(key, dirIn, st.Stream, st.conn.RemoteAddr().String())
		c.quic, c.qs = st.conn, st.Stream
	}
	if c == nil || from.Site == "" || liveness <= 0 {
		s.Write(linkwire.AppendReply(nil, linkwire.StatusBadRequest, "control streams are for peer gateways"))
		s.Close()
		return
	}
	m.mu.Lock()
	if c.tls != nil {
		if info := m.tlsConns[c.tls]; info != nil {
			info.ctl, info.key = true, key
		}
	}
	m.ctlIn[c] = struct{}{}
	delete(m.lost, linkKey{site: key.site, transport: key.transport})
	m.mu.Unlock()
	if c.quic != nil {
		c.watched = m.watchInbound(c.quic, liveness)
	}
	var err error
	if _, err = s.Write(linkwire.AppendReply(nil, linkwire.StatusOK, "")); err == nil {
		if c.tls != nil { // a QUIC link is up with its connection
			m.changed(State{Peer: key.site, Transport: TLS, Direction: dirIn, Remote: c.remote, Liveness: liveness, Up: true})
		}
		err = c.read()
	}
	m.controlEnded(c, err)
}

// controlEnded stops and forgets a control stream that ended and, unless
// the gateway is closing or the link was let go (here, or by the peer,
// which closes the control connection of a link it dialled), declares its
// link dead.
//
// Over TLS, the control connection is the link: a dead link's relays in
// the control connection's direction are closed with the reason (a relay
// ends as its link did: liveness expired, link lost), the status shows
// the link down, and the link is reported down; a link let go is reported
// closed. Over QUIC, a control stream that heard nothing for the liveness
// (this side dialled it) closes the link's connection with codeSilent, as
// quietInbound does on the accepting side; the connection's watcher
// (watchQUIC, acceptQUIC) reports the link's end, whatever ended it.
func (m *Manager) controlEnded(c *control, err error) {
	shutdown := m.ctx.Err() != nil
	letGo := c.idleClosed.Load()
	if c.dir == dirIn && errors.Is(err, io.EOF) {
		// The peer let the link go: unused, or shutting down (which
		// closes its sockets without a TLS close, as a crash does).
		letGo = true
	}
	err = controlErr(c, err)
	failed := !shutdown && !letGo
	if c.quic != nil && !errors.Is(err, errSilent) {
		// The connection ended (its watcher reports why), or the stream
		// alone did, and the connection is still watched: by its idle
		// timeout of the liveness on the dialling side, by quietInbound
		// on the accepting side.
		failed = false
	}
	c.stop(failed, err)
	m.mu.Lock()
	if c.dir == dirOut {
		if c.tls != nil && m.tlsCtls[c.key] == c {
			delete(m.tlsCtls, c.key)
		}
	} else {
		delete(m.ctlIn, c)
	}
	if c.tls == nil {
		m.mu.Unlock()
		return
	}
	in, out := tlsBytes(c.tls)
	b := m.endedLocked(c.key.site, TLS)
	b.in += in
	b.out += out
	delete(m.tlsConns, c.tls)
	var relays []*tls.Conn
	down := fmt.Errorf("link down: %w", err)
	if failed {
		for tc, info := range m.tlsConns {
			if !info.ctl && info.dir == c.dir && info.key == c.key {
				relays = append(relays, tc)
			}
		}
		if c.dir == dirOut {
			m.failedLocked(c.key, down, time.Now())
		} else {
			m.lost[linkKey{site: c.key.site, transport: c.key.transport}] = lostLink{liveness: c.key.liveness, err: down}
		}
	}
	m.mu.Unlock()
	if shutdown {
		return
	}
	if failed && c.dir == dirOut {
		// A dead link tells against its edge: the next dial tries the
		// peer's other edges first.
		m.noteDial(c.remote, down)
	}
	for _, tc := range relays {
		if lc, ok := tc.NetConn().(*linkConn); ok {
			lc.kill(down) // its relay reads why
		} else {
			tc.NetConn().Close()
		}
	}
	st := State{Peer: c.key.site, Transport: TLS, Direction: c.dir, Remote: c.remote, Liveness: c.key.liveness,
		Reason: err, Failed: failed, relaysClosed: len(relays)}
	switch {
	case c.idleClosed.Load():
		st.Reason = errUnused
	case letGo:
		st.Reason = fmt.Errorf("closed by the peer gateway: %w", err)
	}
	m.changed(st)
}

// lostLink is a link a peer dialled that died.
type lostLink struct {
	liveness time.Duration
	err      error
}

// setTLSLiveness notes the liveness of a relay on a TLS connection a peer
// dialled, which ties it to the control connection of that liveness.
func (m *Manager) setTLSLiveness(tc *tls.Conn, liveness time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if info := m.tlsConns[tc]; info != nil {
		info.key.liveness = liveness
	}
}

// closeIdleControl closes the control connections of TLS links this
// gateway dialled that have carried no relay for longer than idle.
func (m *Manager) closeIdleControl(idle time.Duration, now time.Time) {
	cutoff := now.Add(-idle).UnixNano()
	m.mu.Lock()
	inUse := map[linkKey]bool{}
	for _, info := range m.tlsConns {
		if !info.ctl && info.dir == dirOut {
			inUse[info.key] = true
		}
	}
	var drop []*control
	for key, c := range m.tlsCtls {
		if !inUse[key] && c.lastUsed.Load() < cutoff {
			drop = append(drop, c)
			delete(m.tlsCtls, key)
		}
	}
	m.mu.Unlock()
	for _, c := range drop {
		c.idleClosed.Store(true)
		if c.tls != nil {
			c.tls.Close() // a close_notify: the peer reads EOF
		}
		c.stop(false, nil)
		if c.tls == nil { // a link without a control connection: controlEnded does not run
			m.changed(State{Peer: c.key.site, Transport: TLS, Direction: dirOut, Remote: c.remote, Liveness: c.key.liveness, Reason: errUnused})
		}
	}
}
