package link

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Status describes one link for `distgate status`.
type Status struct {
	Peer      string        `json:"peer"`
	Transport Transport     `json:"transport"`
	Direction string        `json:"direction"` // "out" (dialled here), "in", or "both" (TLS)
	Remote    string        `json:"remote"`
	Liveness  time.Duration `json:"liveness_ns,omitempty"`
	RTT       time.Duration `json:"rtt_ns"`
	Streams   int64         `json:"streams"`
	Since     time.Time     `json:"since"`
	BytesOut  uint64        `json:"bytes_out"`
	BytesIn   uint64        `json:"bytes_in"`
	Down      string        `json:"down,omitempty"` // why the last dial failed
}

// Status lists the links: QUIC connections this gateway dialled and those
// peers dialled, TLS connections grouped by peer, and links in backoff.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Status
	for _, ql := range m.quic {
		st := ql.conn.ConnectionStats()
		out = append(out, Status{
			Peer: ql.key.site, Transport: QUIC, Direction: "out", Remote: ql.conn.RemoteAddr().String(),
			Liveness: ql.key.liveness, RTT: st.SmoothedRTT, Streams: ql.streams.Load(), Since: ql.since,
			BytesOut: st.BytesSent, BytesIn: st.BytesReceived,
		})
	}
	for conn, in := range m.inbound {
		st := conn.ConnectionStats()
		out = append(out, Status{
			Peer: in.site, Transport: QUIC, Direction: "in", Remote: conn.RemoteAddr().String(),
			RTT: st.SmoothedRTT, Since: in.since, BytesOut: st.BytesSent, BytesIn: st.BytesReceived,
		})
	}
	active := map[string]int64{}
	for _, key := range m.tlsConns {
		if key.site != "" {
			active[key.site]++
		}
	}
	for site, seen := range m.tlsSeen {
		in, sent := m.tlsBytesLocked(site, seen)
		rtt := seen.rtt
		for c, key := range m.tlsConns {
			if key.site == site {
				if r := tcpRTT(c.NetConn()); r > 0 {
					rtt = r
				}
				break
			}
		}
		st := Status{Peer: site, Transport: TLS, Direction: "both", Remote: seen.remote,
			RTT: rtt, Streams: active[site], Since: seen.since, BytesIn: in, BytesOut: sent}
		if !seen.up {
			st.Down = seen.down
		}
		out = append(out, st)
	}
	for key, b := range m.backoffs {
		out = append(out, Status{Peer: key.site, Transport: key.transport, Direction: "out", Liveness: key.liveness, Down: b.lastErr.Error()})
	}
	slices.SortFunc(out, func(a, b Status) int {
		return cmp.Or(strings.Compare(a.Peer, b.Peer), cmp.Compare(a.Transport, b.Transport), strings.Compare(a.Direction, b.Direction),
			strings.Compare(a.Remote, b.Remote))
	})
	return out
}
