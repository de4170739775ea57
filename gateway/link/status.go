package link

import (
	"cmp"
	"crypto/tls"
	"slices"
	"strings"
	"time"
)

// Status describes one link for `distgate status`.
type Status struct {
	Peer      string        `json:"peer"`
	Transport Transport     `json:"transport"`
	Direction string        `json:"direction"` // "out" (dialled here) or "in"
	Remote    string        `json:"remote"`
	Liveness  time.Duration `json:"liveness_ns,omitempty"`
	RTT       time.Duration `json:"rtt_ns"`
	Streams   int64         `json:"streams"`
	Since     time.Time     `json:"since"`
	BytesOut  uint64        `json:"bytes_out"`
	BytesIn   uint64        `json:"bytes_in"`
	Down      string        `json:"down,omitempty"` // why the link is down: its last dial failed, or it died
	// A QUIC link's congestion window, the packets it sent and received,
	// and those of its packets it declared lost so far: what bounds its
	// throughput on a lossy path (quic-go's Cubic). Packets the peer's
	// sent less those the path dropped, less PacketsIn, are packets that
	// died in the receiving host (a full socket buffer, or quic-go's
	// queue of unprocessed packets).
	Cwnd       uint64 `json:"cwnd_bytes,omitempty"`
	PacketsOut uint64 `json:"packets_out,omitempty"`
	PacketsIn  uint64 `json:"packets_in,omitempty"`
	Lost       uint64 `json:"packets_lost,omitempty"`
}

// Status lists the links: QUIC connections this gateway dialled and those
// peers dialled, TLS links (their control connections, and TLS
// connections that no control connection watches, grouped by peer and
// direction), links peers dialled that died, and links in backoff (down).
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Status{}
	for _, ql := range m.quic {
		st := ql.conn.ConnectionStats()
		out = append(out, Status{
			Peer: ql.key.site, Transport: QUIC, Direction: dirOut, Remote: ql.conn.RemoteAddr().String(),
			Liveness: ql.key.liveness, RTT: st.SmoothedRTT, Streams: ql.streams.Load(), Since: ql.since,
			BytesOut: st.BytesSent, BytesIn: st.BytesReceived,
			Cwnd: uint64(st.CongestionWindow), PacketsOut: st.PacketsSent, PacketsIn: st.PacketsReceived, Lost: st.PacketsLost,
		})
	}
	for conn, in := range m.inbound {
		st := conn.ConnectionStats()
		out = append(out, Status{
			Peer: in.site, Transport: QUIC, Direction: dirIn, Remote: conn.RemoteAddr().String(),
			Liveness: in.liveness, RTT: st.SmoothedRTT, Since: in.since, BytesOut: st.BytesSent, BytesIn: st.BytesReceived,
			Cwnd: uint64(st.CongestionWindow), PacketsOut: st.PacketsSent, PacketsIn: st.PacketsReceived, Lost: st.PacketsLost,
		})
	}
	// TLS relays by link (peer, liveness, direction).
	type group struct {
		key linkKey
		dir string
	}
	relays := map[group]int64{}
	bytes := map[group]*linkBytes{}
	first := map[group]*tls.Conn{}
	for tc, info := range m.tlsConns {
		if info.ctl || info.key.site == "" {
			continue
		}
		g := group{info.key, info.dir}
		relays[g]++
		b := bytes[g]
		if b == nil {
			b = &linkBytes{}
			bytes[g] = b
		}
		in, sent := tlsBytes(tc)
		b.in += in
		b.out += sent
		if f := first[g]; f == nil || m.tlsConns[f].since.After(info.since) {
			first[g] = tc
		}
	}
	ctl := func(c *control) {
		if c.quic != nil {
			return // the QUIC connection's row says it all
		}
		g := group{c.key, c.dir}
		st := Status{Peer: c.key.site, Transport: TLS, Direction: c.dir, Remote: c.remote, Liveness: c.key.liveness,
			RTT: time.Duration(c.rtt.Load()), Streams: relays[g], Since: c.since,
			BytesIn: c.endedIn.Load(), BytesOut: c.endedOut.Load()}
		if c.tls != nil {
			in, sent := tlsBytes(c.tls)
			st.BytesIn += in
			st.BytesOut += sent
		}
		if b := bytes[g]; b != nil {
			st.BytesIn += b.in
			st.BytesOut += b.out
		}
		if !c.supported {
			st.Remote = c.remote
			if tc := first[g]; tc != nil {
				st.RTT = tcpRTT(tc.NetConn())
			}
		}
		out = append(out, st)
		delete(relays, g)
	}
	for _, c := range m.tlsCtls {
		ctl(c)
	}
	for c := range m.ctlIn {
		ctl(c)
	}
	for g, n := range relays { // watched by no control connection
		tc := first[g]
		out = append(out, Status{Peer: g.key.site, Transport: TLS, Direction: g.dir, Remote: tc.RemoteAddr().String(),
			Liveness: g.key.liveness, RTT: tcpRTT(tc.NetConn()), Streams: n, Since: m.tlsConns[tc].since,
			BytesIn: bytes[g].in, BytesOut: bytes[g].out})
	}
	for key, l := range m.lost {
		out = append(out, Status{Peer: key.site, Transport: key.transport, Direction: dirIn, Liveness: l.liveness, Down: l.err.Error()})
	}
	for key, b := range m.backoffs {
		out = append(out, Status{Peer: key.site, Transport: key.transport, Direction: dirOut, Liveness: key.liveness, Down: b.lastErr.Error()})
	}
	slices.SortFunc(out, func(a, b Status) int {
		return cmp.Or(strings.Compare(a.Peer, b.Peer), cmp.Compare(a.Transport, b.Transport), strings.Compare(a.Direction, b.Direction),
			cmp.Compare(a.Liveness, b.Liveness), strings.Compare(a.Remote, b.Remote), strings.Compare(a.Down, b.Down))
	})
	return out
}
