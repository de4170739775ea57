package link

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
)

// Link states in a Summary.
const (
	StateUp   = "up"   // a QUIC connection, or a TLS link's control connection, is open
	StateDown = "down" // the last dial failed, or the link died
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

// Summaries returns one Summary per peer and transport: every transport a
// configured peer has an address for, and any other a peer dialled in
// on; sorted by peer, then transport. A peer's links of a transport are
// up when one is (a QUIC connection, a TLS control connection, or a TLS
// connection of a link without one), else down when one is down in the
// status (its last dial failed, or it died), else idle.
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
	peers := slices.Collect(maps.Values(m.peers))
	if m.cfg.SiteEdges != nil && m.cfg.Site != "" {
		// An agent's links to the edges of its own site.
		q, t := m.cfg.SiteEdges()
		peers = append(peers, Peer{Site: m.cfg.Site, QUIC: q, TLS: t})
	}
	for _, p := range peers {
		// A peer of several edges: its addresses, until a link says which.
		if len(p.QUIC) > 0 {
			get(p.Site, QUIC).Remote = strings.Join(p.QUIC, ", ")
		}
		if len(p.TLS) > 0 {
			get(p.Site, TLS).Remote = strings.Join(p.TLS, ", ")
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, b := range m.ended {
		s := get(k.site, k.transport)
		s.BytesIn += b.in
		s.BytesOut += b.out
	}
	up := func(s *Summary, remote string) {
		s.State, s.Down = StateUp, ""
		if remote != "" {
			s.Remote = remote
		}
	}
	live := func(s *Summary, remote string, st quic.ConnectionStats, streams int64) {
		up(s, remote)
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
	for _, c := range m.tlsCtls {
		if !c.isDead() {
			s := get(c.key.site, TLS)
			up(s, "")
			s.RTT = max(s.RTT, time.Duration(c.rtt.Load()))
		}
	}
	for c := range m.ctlIn {
		if c.tls != nil {
			s := get(c.key.site, TLS)
			up(s, c.remote)
			s.RTT = max(s.RTT, time.Duration(c.rtt.Load()))
		}
	}
	for c, info := range m.tlsConns {
		if info.key.site == "" {
			continue
		}
		s := get(info.key.site, TLS)
		in, out := tlsBytes(c)
		s.BytesIn += in
		s.BytesOut += out
		if info.ctl {
			continue
		}
		s.Streams++
		if m.controlOfLocked(info.key, info.dir) == nil {
			up(s, "") // a connection no control connection watches keeps its link up
		}
		if s.RTT == 0 {
			s.RTT = tcpRTT(c.NetConn())
		}
	}
	down := func(site string, t Transport, why string) {
		if s := get(site, t); s.State != StateUp {
			s.State, s.Down = StateDown, why
		}
	}
	for k, l := range m.lost {
		down(k.site, k.transport, l.err.Error())
	}
	for k, b := range m.backoffs {
		down(k.site, k.transport, b.lastErr.Error())
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
