package link

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/admit"
)

// The link port is reachable from anywhere, and anyone may start a
// handshake: each listener admits connections before their handshake
// (Config.Admit), so that unauthenticated connections take a bounded
// number of goroutines and descriptors. A peer gateway's connection is
// given back as soon as its certificate is verified (a peer may hold any
// number of links and relays), and its address is trusted for a while, so
// that a burst of relays over TLS is not taken for a flood. A remote query
// client's connection counts until it ends.

// ticketKey is the context key of a QUIC connection's admission.
type ticketKey struct{}

// admitQUIC is the QUIC transport's ConnContext: it admits a connection
// attempt before its handshake. The admission ends with the connection
// (its context), or when acceptQUIC finds a peer gateway.
func (m *Manager) admitQUIC(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	if m.quicAdmit == nil {
		return ctx, nil
	}
	peer := addrOf(info.RemoteAddr)
	t, err := m.quicAdmit.Admit(peer, time.Now(), nil)
	if err != nil {
		m.refusals.Refused(peer, err.Error(), "transport", QUIC, "address_verified", info.AddrVerified)
		return ctx, err
	}
	context.AfterFunc(ctx, t.Done)
	return context.WithValue(ctx, ticketKey{}, t), nil
}

// retryQUIC is the QUIC transport's VerifySourceAddress: a connection
// attempt first proves its address with a Retry (one more round trip)
// when the listener is busy or its source holds many handshakes, so that
// packets with forged source addresses cannot take a source's share.
func (m *Manager) retryQUIC(a net.Addr) bool {
	return m.quicAdmit != nil && m.quicAdmit.Busy(addrOf(a))
}

// admittedQUIC gives back the admission of a QUIC connection whose peer
// proved to be a peer gateway, and trusts its address.
func (m *Manager) admittedQUIC(conn *quic.Conn, site string) {
	if t, ok := conn.Context().Value(ticketKey{}).(*admit.Ticket); ok && site != "" {
		t.Done()
		m.quicAdmit.Trust(addrOf(conn.RemoteAddr()), time.Now())
	}
}

// admitTLS admits a TCP connection to the TLS listener before its
// handshake; while the handshake runs, the connection may be closed to
// make room for new ones.
func (m *Manager) admitTLS(c net.Conn) (*admit.Ticket, bool) {
	peer := addrOf(c.RemoteAddr())
	t, err := m.tlsAdmit.Admit(peer, time.Now(), func() {
		c.Close()
		m.refusals.Refused(peer, "evicted: every connection was taken", "transport", TLS)
	})
	if err != nil {
		m.refusals.Refused(peer, err.Error(), "transport", TLS)
		return nil, false
	}
	return t, true
}

// addrOf returns the IP of a TCP or UDP address.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
