package link

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
)

// Link states in a Summary.
const (
	StateUp   = "up"   // a connection is open (QUIC), or the last one succeeded (TLS)
	StateDown = "down" // the last dial or connection failed
	StateIdle = "idle" // configured, and no connection yet or any more
)

// Summary is a peer's links of one transport taken together: for the
// metrics, the readiness and the status page. Bytes count since the
// Manager started, the connections that ended included, as the network
// carried them (with TLS and QUIC overhead).
type Summary struct {
	Peer      string        `json:"peer"`
	Transport Transport     `json:"transport"`
	State     string        `json:"state"` // StateUp, StateDown or StateIdle
	Remote    string        `json:"remote,omitempty"`
	RTT       time.Duration `json:"rtt_ns"`
	Streams   int64         `json:"streams"`
	BytesIn   uint64        `json:"bytes_in"`
	BytesOut  uint64        `json:"bytes_out"`
	Down      string        `json:"down,omitempty"` // why, while down
}

// quicPeerSeen remembers a peer's QUIC links that ended: their bytes,
// and why the last one failed, until another comes up.
type quicPeerSeen struct {
	in, out uint64
	down    string
}

// quicEndedLocked adds a QUIC connection that ended to its peer's totals
// and notes why it ended, unless it was closed for want of use.
func (m *Manager) quicEndedLocked(site string, conn *quic.Conn) {
	st := conn.ConnectionStats()
	t := m.quicEnded[site]
	if t == nil {
		t = &quicPeerSeen{}
		m.quicEnded[site] = t
	}
	t.in += st.BytesReceived
	t.out += st.BytesSent
	cause := context.Cause(conn.Context())
	var app *quic.ApplicationError
	if m.ctx.Err() != nil || cause == nil || (errors.As(cause, &app) && app.ErrorMessage == "unused") {
		return
	}
	t.down = cause.Error()
}

// Summaries returns one Summary per peer and transport: every transport a
// configured peer has an address for, and any other a peer dialled in
// on; sorted by peer, then transport.
func (m *Manager) Summaries() []Summary {
	type key struct {
		site string
		t    Transport
	}
	sums := map[key]*Summary{}
	get := func(site string, t Transport) *Summary {
		k := key{site, t}
		if s := sums[k]; s != nil {
			return s
		}
		s := &Summary{Peer: site, Transport: t, State: StateIdle}
		sums[k] = s
		return s
	}
	for _, p := range m.peers {
		if p.QUIC != "" {
			get(p.Site, QUIC).Remote = p.QUIC
		}
		if p.TLS != "" {
			get(p.Site, TLS).Remote = p.TLS
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for site, t := range m.quicEnded {
		s := get(site, QUIC)
		s.BytesIn += t.in
		s.BytesOut += t.out
		if t.down != "" {
			s.State, s.Down = StateDown, t.down
		}
	}
	live := func(s *Summary, remote string, st quic.ConnectionStats, streams int64) {
		s.State, s.Remote, s.Down = StateUp, remote, ""
		s.RTT = max(s.RTT, st.SmoothedRTT)
		s.Streams += streams
		s.BytesIn += st.BytesReceived
		s.BytesOut += st.BytesSent
	}
	for _, ql := range m.quic {
		live(get(ql.key.site, QUIC), ql.conn.RemoteAddr().String(), ql.conn.ConnectionStats(), ql.streams.Load())
	}
	for conn, in := range m.inbound {
		live(get(in.site, QUIC), conn.RemoteAddr().String(), conn.ConnectionStats(), 0)
	}
	for site, seen := range m.tlsSeen {
		s := get(site, TLS)
		s.BytesIn, s.BytesOut = m.tlsBytesLocked(site, seen)
		s.RTT = seen.rtt
		if seen.remote != "" {
			s.Remote = seen.remote
		}
		switch {
		case seen.up:
			s.State = StateUp
		case seen.down != "":
			s.State, s.Down = StateDown, seen.down
		}
	}
	for c, key := range m.tlsConns {
		if key.site == "" {
			continue
		}
		s := get(key.site, TLS)
		s.Streams++
		if rtt := tcpRTT(c.NetConn()); rtt > 0 {
			s.RTT = rtt
		}
	}
	for key, b := range m.backoffs {
		if s := get(key.site, key.transport); s.State != StateUp {
			s.State, s.Down = StateDown, b.lastErr.Error()
		}
	}
	out := make([]Summary, 0, len(sums))
	for _, s := range sums {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if c := strings.Compare(a.Peer, b.Peer); c != 0 {
			return c
		}
		return int(a.Transport) - int(b.Transport)
	})
	return out
}

// Peers returns the configured peers' sites, sorted.
func (m *Manager) Peers() []string {
	out := make([]string, 0, len(m.peers))
	for site := range m.peers {
		out = append(out, site)
	}
	slices.Sort(out)
	return out
}
