package link

import (
	"crypto/tls"
	"time"
)

// State is a link that came up or went down, as Config.OnState and the
// log are told. A QUIC link is a connection; a TLS link is the TLS
// connections with a peer, each carrying one stream: it comes up with the
// first that succeeds and goes down when one fails (a reset, a timeout,
// an end without a TLS close) or a dial fails, and stays up while idle.
type State struct {
	Peer      string
	Transport Transport
	Direction string // "out" (dialled here) or "in"
	Remote    string
	Up        bool
	Reason    error // why it went down
}

// changed logs a link's change and tells Config.OnState.
func (m *Manager) changed(st State) {
	if st.Up && st.Transport == QUIC {
		m.mu.Lock()
		if t := m.quicEnded[st.Peer]; t != nil {
			t.down = ""
		}
		m.mu.Unlock()
	}
	if st.Up {
		m.log.Info("link up", "peer", st.Peer, "transport", st.Transport, "remote", st.Remote, "direction", st.Direction)
	} else {
		m.log.Warn("link down", "peer", st.Peer, "transport", st.Transport, "remote", st.Remote, "direction", st.Direction, "reason", st.Reason)
	}
	if m.cfg.OnState != nil {
		m.cfg.OnState(st)
	}
}

// sawTLSLocked notes a TLS connection with a peer for the status; it
// returns the link's change when it came up.
func (m *Manager) sawTLSLocked(c *tls.Conn, site, direction string) *State {
	seen := m.tlsSeenLocked(site)
	seen.remote = c.RemoteAddr().String()
	if rtt := tcpRTT(c.NetConn()); rtt > 0 {
		seen.rtt = rtt
	}
	if seen.up {
		return nil
	}
	seen.up, seen.down, seen.since = true, "", time.Now()
	return &State{Peer: site, Transport: TLS, Direction: direction, Remote: seen.remote, Up: true}
}

func (m *Manager) tlsSeenLocked(site string) *tlsPeerSeen {
	seen := m.tlsSeen[site]
	if seen == nil {
		seen = &tlsPeerSeen{since: time.Now()}
		m.tlsSeen[site] = seen
	}
	return seen
}

// tlsFailedLocked notes that a TLS link to a peer failed; it returns the
// link's change when it was up.
func (m *Manager) tlsFailedLocked(site, direction, remote string, err error) *State {
	seen := m.tlsSeenLocked(site)
	seen.down = err.Error()
	if !seen.up {
		return nil
	}
	seen.up = false
	return &State{Peer: site, Transport: TLS, Direction: direction, Remote: remote, Reason: err}
}

// untrackTLS forgets a TLS link connection that ends: its bytes go to the
// peer's totals, and its failure, if it failed, takes the link down.
func (m *Manager) untrackTLS(c *tls.Conn) {
	m.mu.Lock()
	key, ok := m.tlsConns[c]
	delete(m.tlsConns, c)
	var st *State
	if lc, isLink := c.NetConn().(*linkConn); ok && isLink && key.site != "" {
		seen := m.tlsSeenLocked(key.site)
		seen.in += lc.in.Load()
		seen.out += lc.out.Load()
		if err := lc.Failure(); err != nil && m.ctx.Err() == nil {
			if _, failed := EndReason(err); failed {
				st = m.tlsFailedLocked(key.site, key.direction(), c.RemoteAddr().String(), err)
			}
		}
	}
	m.mu.Unlock()
	if st != nil {
		m.changed(*st)
	}
}

// direction is "out" for a link this gateway dialled (it has a liveness),
// "in" for one a peer dialled.
func (k linkKey) direction() string {
	if k.liveness > 0 {
		return "out"
	}
	return "in"
}

// tlsBytesLocked returns the bytes each way of the TLS link to site: its
// connections that ended and those open.
func (m *Manager) tlsBytesLocked(site string, seen *tlsPeerSeen) (in, out uint64) {
	in, out = seen.in, seen.out
	for c, key := range m.tlsConns {
		if lc, ok := c.NetConn().(*linkConn); ok && key.site == site {
			in += lc.in.Load()
			out += lc.out.Load()
		}
	}
	return in, out
}
