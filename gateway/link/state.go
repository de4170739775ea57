package link

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/quic-go/quic-go"
)

// State is a link that came up or went down, as Config.OnState and the
// log are told. Every link that comes up goes down once, unless the
// gateway closes first.
//
// A QUIC link is a connection, either way. A TLS link is its control
// connection (control.go), either way: it comes up once the control
// stream is answered, and goes down when the control connection dies
// (nothing heard for the liveness, a reset, an end without a TLS close:
// its relays are closed with it) or is let go (unused here, or closed by
// the peer gateway). A TLS link to a peer that serves no control streams
// (an older gateway) comes up with its first connection, and goes down
// when one of its connections fails.
type State struct {
	Peer      string
	Transport Transport
	Direction string // "out" (dialled here) or "in"
	Remote    string
	Liveness  time.Duration // of the route, on links this gateway dialled and TLS links
	Up        bool
	// Coming up on a link dialled here: how long its (TLS or QUIC)
	// handshake took, whether it resumed a session, its key exchange,
	// and, over TLS, whether its SYN carried the ClientHello (TCP Fast
	// Open, fastopen.go).
	Handshake   time.Duration
	Resumed     bool
	KeyExchange tls.CurveID
	SYNData     bool
	// Going down: why, and whether the link failed (else it was let go,
	// here or by the peer gateway: unused, or the peer shutting down).
	Reason error
	Failed bool

	relaysClosed int // TLS relays closed as the link went down
}

// errUnused is why this gateway lets a link go.
var errUnused = errors.New("unused")

// changed logs a link's change and tells Config.OnState: "link up", "link
// down" (it failed) or "link closed" (let go).
func (m *Manager) changed(st State) {
	attrs := []any{"peer", st.Peer, "transport", st.Transport, "remote", st.Remote, "direction", st.Direction}
	if st.Liveness > 0 {
		attrs = append(attrs, "liveness", st.Liveness)
	}
	switch {
	case st.Up:
		if st.Handshake > 0 {
			attrs = append(attrs, "handshake", st.Handshake, "resumed", st.Resumed, "key_exchange", st.KeyExchange.String())
			if st.Transport == TLS {
				attrs = append(attrs, "syn_data", st.SYNData)
			}
		}
		m.log.Info("link up", attrs...)
	case st.Failed:
		if st.relaysClosed > 0 {
			attrs = append(attrs, "tls_relays_closed", st.relaysClosed)
		}
		m.log.Warn("link down", append(attrs, "reason", st.Reason)...)
	default:
		m.log.Info("link closed", append(attrs, "reason", st.Reason)...)
	}
	if m.cfg.OnState != nil {
		m.cfg.OnState(st)
	}
}

// linkBytes are the bytes of a peer's connections of one transport that
// ended.
type linkBytes struct{ in, out uint64 }

// endedLocked returns the totals of a peer's connections of a transport
// that ended.
func (m *Manager) endedLocked(site string, t Transport) *linkBytes {
	key := linkKey{site: site, transport: t}
	b := m.ended[key]
	if b == nil {
		b = &linkBytes{}
		m.ended[key] = b
	}
	return b
}

// addQUIC adds a QUIC connection that ended.
func (b *linkBytes) addQUIC(conn *quic.Conn) {
	st := conn.ConnectionStats()
	b.in += st.BytesReceived
	b.out += st.BytesSent
}

// tlsBytes returns the bytes a TLS link connection moved each way, as the
// network carried them.
func tlsBytes(c *tls.Conn) (in, out uint64) {
	if lc, ok := c.NetConn().(*linkConn); ok {
		return lc.in.Load(), lc.out.Load()
	}
	return 0, 0
}

// untrackTLS forgets a TLS link connection that ends: its bytes go to the
// peer's totals and its link's. A link without a control connection (the
// peer serves none) goes down when one of its connections fails.
func (m *Manager) untrackTLS(c *tls.Conn) {
	m.mu.Lock()
	info := m.tlsConns[c]
	delete(m.tlsConns, c)
	var st *State
	if info != nil && info.key.site != "" {
		in, out := tlsBytes(c)
		b := m.endedLocked(info.key.site, TLS)
		b.in += in
		b.out += out
		ctl := m.controlOfLocked(info.key, info.dir)
		if ctl != nil {
			ctl.endedIn.Add(in)
			ctl.endedOut.Add(out)
		}
		if ctl != nil && !ctl.supported && m.ctx.Err() == nil {
			if err := linkFailure(c); err != nil {
				delete(m.tlsCtls, ctl.key)
				ctl.stop(false, nil)
				m.failedLocked(ctl.key, fmt.Errorf("link down: %w", err), time.Now())
				st = &State{Peer: ctl.key.site, Transport: TLS, Direction: dirOut, Remote: ctl.remote, Liveness: ctl.key.liveness,
					Reason: err, Failed: true}
			}
		}
	}
	m.mu.Unlock()
	if st != nil {
		m.changed(*st)
	}
}

// controlOfLocked returns the live control connection of the TLS link of
// key in direction dir, or nil.
func (m *Manager) controlOfLocked(key linkKey, dir string) *control {
	if dir == dirOut {
		if c := m.tlsCtls[key]; c != nil && !c.isDead() {
			return c
		}
		return nil
	}
	for c := range m.ctlIn {
		if c.tls != nil && c.key == key {
			return c
		}
	}
	return nil
}

// linkFailure returns why a TLS link connection failed, nil when it did
// not fail as a link (it was closed, or ended with a TLS close).
func linkFailure(c *tls.Conn) error {
	lc, ok := c.NetConn().(*linkConn)
	if !ok {
		return nil
	}
	err := lc.Failure()
	if _, failed := EndReason(err); !failed {
		return nil
	}
	return err
}

// controlErr is why a TLS control connection ended as the link's reports
// say it: an end of its TCP connection without a TLS close, which
// crypto/tls reads as a clean end, is the link's loss.
func controlErr(c *control, err error) error {
	if c.tls == nil || !errors.Is(err, io.EOF) {
		return err
	}
	if lc, ok := c.tls.NetConn().(*linkConn); ok && lc.rawEOF.Load() {
		return errClosedWithoutNotify
	}
	return err
}
