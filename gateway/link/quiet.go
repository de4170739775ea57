package link

import (
	"fmt"
	"time"

	"github.com/quic-go/quic-go"
)

// The liveness of a QUIC link a peer dialled, on this (the accepting)
// side. The dialling side's liveness does not reach this side through
// QUIC: quic-go takes a peer's max_idle_timeout as 5 s at least
// (protocol.MinRemoteIdleTimeout), so a link of a 1 s liveness idles out
// here after 5 s, not 750 ms. Nor can the link's control stream alone
// watch it: the dialling side opens it beside the link's first relay, not
// before, so a relay can run on a connection whose control stream has not
// arrived (and never will if the path stalls first: TestLinkPeerStalls/quic
// kept site B's relay for 5 s under load), and a control stream that ends
// on its own leaves the connection unwatched.
//
// So the connection itself is watched, from the first stream that tells
// its liveness (the control stream's header, or a relay's: the dialling
// side keys its connections by liveness, so they agree): any packet heard
// counts, and one that hears nothing for the liveness is closed with
// codeSilent, which ends its relays and is reported by acceptQUIC as the
// link's death. The dialling side keeps its own idle timeout, keep-alives
// (a packet at least every quarter of the liveness, which this side
// acknowledges) and control stream.

// watchInbound watches a QUIC connection a peer dialled with liveness: the
// shortest of those its streams asked for. It reports whether conn is
// watched: a connection not (or no longer) among the inbound links is
// left alone.
func (m *Manager) watchInbound(conn *quic.Conn, liveness time.Duration) bool {
	if liveness <= 0 {
		return false
	}
	m.mu.Lock()
	in, ok := m.inbound[conn]
	if !ok || (in.liveness > 0 && in.liveness <= liveness) {
		m.mu.Unlock()
		return ok
	}
	start := in.liveness == 0
	in.liveness = liveness
	m.inbound[conn] = in
	m.mu.Unlock()
	if start {
		m.wg.Add(1) // the caller, a stream's handler, holds m.wg: Close waits for both
		go m.quietInbound(conn)
	}
	return true
}

// inboundLiveness is the liveness a QUIC connection a peer dialled is
// watched with; 0 once it is gone.
func (m *Manager) inboundLiveness(conn *quic.Conn) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inbound[conn].liveness
}

// quietInbound closes conn once it has received nothing for its liveness,
// checking the packets it has processed every quietChecks-th of it (a
// packet counts as heard at the check that sees it, as in control.read);
// it ends with the connection. The caller added to m.wg.
//
// Packets, not bytes: quic-go counts a datagram's bytes when it arrives,
// before decrypting it, and its packets once authenticated. Anyone who saw
// one packet of the link knows the connection ID and could keep a silent
// link "heard" with junk datagrams for QUIC's idle timeout.
func (m *Manager) quietInbound(conn *quic.Conn) {
	defer m.wg.Done()
	heard, lastIn := time.Now(), conn.ConnectionStats().PacketsReceived
	for {
		liveness := m.inboundLiveness(conn)
		if liveness <= 0 {
			return
		}
		t := time.NewTimer(max(liveness/quietChecks, 10*time.Millisecond))
		select {
		case <-conn.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
		now := time.Now()
		if in := conn.ConnectionStats().PacketsReceived; in != lastIn {
			heard, lastIn = now, in
		}
		if now.Sub(heard) >= liveness {
			conn.CloseWithError(codeSilent, fmt.Sprintf("%v for %v", errSilent, liveness))
			return
		}
	}
}
