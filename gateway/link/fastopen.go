package link

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// Resumed TLS links in one round trip: TCP Fast Open and a classical key
// share.
//
// A TLS link connection (a link's control connection, and each relay's
// connection: every relay over a TLS link is a TLS connection of its own)
// costs TCP's handshake and then TLS 1.3's: two round trips, where a
// resumed QUIC link takes one. crypto/tls has no 0-RTT. TCP Fast Open
// (RFC 7413) puts the first bytes, the ClientHello, in the SYN, and the
// peer answers it with the SYN-ACK: one round trip. But Go's default
// ClientHello carries a hybrid post-quantum key share (X25519MLKEM768,
// 1,216 bytes of it; 1,485 bytes in all), and with a session ticket for
// resumption more than 2,400: it does not fit in a SYN (about 1,420 bytes
// of data at an MTU of 1,500).
//
// So a dial that holds a session ticket for the peer (ticketCache) offers
// only an X25519 key share (tlsResume), and sets TCP_FASTOPEN_CONNECT:
// the resumed ClientHello, ticket included, is some 1,250 bytes with the
// built-in issuer's certificates (the peer's ticket holds this gateway's
// client certificate chain, two P-256 certificates), and goes in the SYN.
// A dial without a ticket is the full handshake, hybrid post-quantum as
// before, without Fast Open (its ClientHello would not fit anyway).
//
// Why a classical key share is enough on resumption: a TLS 1.3 resumption
// is psk_dhe_ke. Its key schedule starts from the PSK, which is derived
// from the resumption secret of the handshake that issued the ticket, and
// mixes the X25519 shared secret in after it. Recorded traffic of the
// resumed connection needs both: breaking X25519 (a future quantum
// computer) gives nothing without the PSK, and the PSK comes from a
// handshake protected by ML-KEM. A ticket issued on a resumed connection
// derives from that connection's key schedule, hence from the same PSK:
// the chain goes back to a full hybrid handshake. What it does not
// survive is the theft of the peer's session ticket keys (crypto/tls's
// automatic keys live in the peer process's memory only, rotate daily and
// are gone within a week) together with a quantum computer; an attacker
// who can read the peer gateway's memory reads its traffic keys anyway.
//
// A peer that refuses the ticket (restarted, or its ticket keys rotated;
// tickets are kept per edge address, so another edge of the peer site is
// not offered this one's) answers with
// a full handshake, which here would be X25519 alone: a connection whose
// recorded traffic a quantum computer could read, and that nothing on the
// path forced (a ClientHello changed on the path fails the handshake's
// transcript check), so it happens whenever a ticket is stale, e.g. on
// every restart of the peer. Such a handshake is refused before anything is sent
// on it, client certificate included (VerifyConnection, errNotResumed),
// crypto/tls drops the stale ticket, and the connection is dialled again
// with a full hybrid handshake (dialTLS): one more round trip of TCP and
// one of TLS, only when a ticket is refused. The peer sees a handshake
// its client aborted (bad_certificate) in its refusal log.
//
// On the listener, TCP_FASTOPEN with a queue of fastOpenQueue
// (listenControl). The SYN's data is only the ClientHello: TLS
// authenticates both ends as on any connection, and no application data
// is taken before the handshake ends (no 0-RTT), so a replayed SYN costs
// the peer an unfinished handshake, like any connection attempt, and
// carries nothing that is acted upon. The kernel only accepts data in a
// SYN with a Fast Open cookie it gave that source address (a forged
// source gets none), counts the queue of Fast Open connections that have
// not finished TCP's handshake against fastOpenQueue, and past it falls
// back to a plain handshake. Admission (admit.go) applies to the
// connection as to any other.
//
// The kernel decides: Fast Open needs net.ipv4.tcp_fastopen's bit 0x1 on
// the dialling host (the default) and 0x2 on the listening one (not the
// default, logged at start: checkFastOpen). Without them, and with any
// middlebox that drops SYNs with data, the connection falls back to a
// plain TCP handshake by itself: the link works, in two round trips.

// fastOpenQueue bounds the listener's Fast Open connections whose TCP
// handshake is not done (the kernel's TFO queue): above the relays'
// handshakes a gateway lets its peers run at once (Config.TLSDials, 32
// per peer) for a few peers; past it a SYN's data is ignored and the
// connection takes a plain handshake.
const fastOpenQueue = 256

// ticketLifetime is the most a session ticket is trusted to be usable:
// crypto/tls's servers issue tickets for 7 days at most.
const ticketLifetime = 7 * 24 * time.Hour

// errNotResumed is why a dial that offered a ticket and a classical key
// share refuses its handshake: the peer did not resume, and a full
// handshake must be hybrid post-quantum.
var errNotResumed = errors.New("the peer did not resume the session: a full handshake must be post-quantum")

// ticketCache is the client session cache of TLS links: crypto/tls's,
// which server names hold a ticket since when, and whether their last full
// handshake was hybrid post-quantum, so that a dial knows before its
// handshake whether it may offer a ticket with a classical key share
// (holds).
//
// Tickets are kept per edge: by the address dialled as well as the server
// name (at, edgeTicketKey). A peer site of several edges (its ticket keys
// their own) would otherwise be offered one edge's ticket at another, a
// refused resumption and a redial each time, and a refused handshake in
// that edge's log.
type ticketCache struct {
	tls.ClientSessionCache

	mu     sync.Mutex // guards the following
	stored map[string]time.Time
	pq     map[string]bool // by edgeTicketKey: its last full handshake was hybrid post-quantum
}

// edgeTicketKey is where a ticket of serverName's edge at addr is kept.
func edgeTicketKey(addr, serverName string) string { return addr + " " + serverName }

// at is the session cache of dials to the edge at addr: crypto/tls keys
// tickets by server name, this view by the address too.
func (c *ticketCache) at(addr string) tls.ClientSessionCache { return edgeTickets{c, addr} }

// edgeTickets is a ticketCache seen by the dials to one address.
type edgeTickets struct {
	c    *ticketCache
	addr string
}

// Get implements tls.ClientSessionCache.
func (e edgeTickets) Get(key string) (*tls.ClientSessionState, bool) {
	return e.c.ClientSessionCache.Get(edgeTicketKey(e.addr, key))
}

// Put implements tls.ClientSessionCache.
func (e edgeTickets) Put(key string, cs *tls.ClientSessionState) {
	e.c.Put(edgeTicketKey(e.addr, key), cs)
}

func newTicketCache(size int) *ticketCache {
	return &ticketCache{ClientSessionCache: tls.NewLRUClientSessionCache(size), stored: map[string]time.Time{}, pq: map[string]bool{}}
}

// fullHandshake records the key exchange of a full handshake with the
// edge at key (edgeTicketKey) and reports whether it was hybrid
// post-quantum. Only such a handshake's tickets (and those of connections resumed from them) keep
// recorded traffic post-quantum when resumed with a classical key share:
// after a classical one (a peer that does not offer ML-KEM), dials keep
// the default configuration and do not resume with Fast Open.
func (c *ticketCache) fullHandshake(key string, curve tls.CurveID) bool {
	pq := curve == tls.X25519MLKEM768
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.pq[key]; !known && len(c.pq) >= maxTicketNames {
		clear(c.pq) // bounded; an edge forgotten counts as classical until its next full handshake
	}
	c.pq[key] = pq
	return pq
}

// maxTicketNames bounds the edges (address and server name) whose tickets
// and key exchange are kept: the peers' edges, from the configuration and
// the site directory.
const maxTicketNames = 4096

// Put implements tls.ClientSessionCache; a nil cs drops key's ticket.
func (c *ticketCache) Put(key string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	if cs == nil {
		delete(c.stored, key)
	} else {
		if _, known := c.stored[key]; !known && len(c.stored) >= maxTicketNames {
			clear(c.stored) // bounded; an edge forgotten does a full handshake
		}
		c.stored[key] = time.Now()
	}
	c.mu.Unlock()
	c.ClientSessionCache.Put(key, cs)
}

// holds reports whether a ticket is held at now for the edge at key
// (edgeTicketKey). A ticket the peer no longer takes, or one crypto/tls
// will not offer, is found out by the handshake (errNotResumed).
func (c *ticketCache) holds(key string, now time.Time) bool {
	c.mu.Lock()
	at, ok := c.stored[key]
	pq := c.pq[key]
	c.mu.Unlock()
	if !ok || !pq || now.Sub(at) >= ticketLifetime {
		return false
	}
	_, ok = c.ClientSessionCache.Get(key) // the LRU may have let it go
	return ok
}

// tlsResume is conf for a dial that holds a ticket: an X25519 key share
// alone, and a handshake that is refused unless it resumes.
func tlsResume(conf *tls.Config) *tls.Config {
	conf = conf.Clone()
	conf.CurvePreferences = []tls.CurveID{tls.X25519}
	verify := conf.VerifyConnection
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if !cs.DidResume {
			return errNotResumed
		}
		if verify == nil {
			return nil
		}
		return verify(cs)
	}
	return conf
}

// dialTLS dials a TLS link connection over a linkConn; the dial timeout
// bounds the dial and the handshake. Holding a ticket for the peer, it
// first tries a resumption in one round trip (Fast Open, a classical key
// share); a peer that refuses the ticket gets a full hybrid handshake on
// a new connection.
func (m *Manager) dialTLS(ctx context.Context, key linkKey, addr string) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	conf := m.clientTLS(key.site, m.tlsSessions.at(addr))
	edge := edgeTicketKey(addr, conf.ServerName)
	if m.tlsSessions.holds(edge, time.Now()) {
		tc, err := m.handshakeTLS(ctx, key, addr, tlsResume(conf), true)
		if !errors.Is(err, errNotResumed) {
			return tc, err
		}
		m.log.Debug("TLS link: the peer did not resume the session; dialling a full post-quantum handshake",
			"peer", key.site, "remote", addr)
	}
	tc, err := m.handshakeTLS(ctx, key, addr, conf, false)
	if err == nil && !tc.ConnectionState().DidResume {
		curve := tc.ConnectionState().CurveID
		if !m.tlsSessions.fullHandshake(edge, curve) {
			m.warnClassical(key.site, curve)
		}
	}
	return tc, err
}

// warnClassical says once per peer that its TLS link's full handshake was
// not hybrid post-quantum (the peer does not offer ML-KEM): recorded
// traffic of the link could be read by a future quantum computer.
func (m *Manager) warnClassical(peer string, curve tls.CurveID) {
	if _, warned := m.classicalPeers.LoadOrStore(peer, true); warned {
		return
	}
	m.log.Warn("TLS link: the peer's handshake was not post-quantum; its links resume without TCP Fast Open",
		"peer", peer, "key_exchange", curve.String())
}

// handshakeTLS dials addr, with TCP Fast Open when fastOpen, and runs
// conf's handshake.
func (m *Manager) handshakeTLS(ctx context.Context, key linkKey, addr string, conf *tls.Config, fastOpen bool) (*tls.Conn, error) {
	nd := &net.Dialer{KeepAliveConfig: keepAliveFor(key.liveness), Control: dialControl(key.liveness, fastOpen)}
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(newLinkConn(raw.(*net.TCPConn), m.bufs), conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}
