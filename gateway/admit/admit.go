// Package admit decides whether a listener takes a connection, before a
// byte is read or a handshake begins, and logs its refusals without
// letting a flood write a line each.
//
// A Limiter holds a token bucket and a cap on the connections held at once
// for each source (an IPv4 address, an IPv6 /64) and for the networks
// around it (an IPv4 /24, an IPv6 /48 and /32, each allowed more), and a
// cap on all connections. When every connection is taken, a new one is
// admitted by closing the oldest connection that has not finished its
// request (a silent or half-read one), so that idle connections cannot
// lock a listener. A source that proved itself (a peer gateway's
// certificate) may be trusted for a while: its connections skip the rate
// and the per-source caps.
//
// The Limiter is pure state with the time passed in; Log owns one timer.
// Both are safe for concurrent use.
package admit

import (
	"container/list"
	"errors"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits configure a Limiter.
type Limits struct {
	Rate      float64 // connections a second per source, in the long run
	Burst     int     // connections a source may open at once beyond Rate
	PerSource int     // connections a source may hold at once
	Total     int     // connections all sources may hold at once
	// MaxSources bounds the sources (and networks) remembered; past it
	// (after pruning those idle for a minute), new sources are refused
	// until some expire.
	MaxSources int
	// TrustFor is how long Trust lifts a source's rate and caps, from its
	// last Trust.
	TrustFor time.Duration
}

// Refusals. Admit returns one of these, wrapped or not; their text is the
// reason in the logs.
var (
	ErrTotal   = errors.New("too many connections")
	ErrSource  = errors.New("too many connections from one source")
	ErrNetwork = errors.New("too many connections from one network")
	ErrRate    = errors.New("rate limit")
	ErrSources = errors.New("too many sources")
)

// A connection counts against its source and the wider networks around
// it, each allowed factor times the per-source cap and rate. IPv4 has no
// third level: bits4 0 skips it.
var levels = [...]struct {
	bits4, bits6 int
	factor       int
}{
	{32, 64, 1},
	{24, 48, 4},
	{0, 32, 16},
}

// Sources are pruned at most this often, once idle this long.
const (
	pruneEvery = 10 * time.Second
	pruneIdle  = time.Minute
	// evictScan bounds how many pending connections Admit looks past
	// (those of trusted sources) for one to evict.
	evictScan = 64
)

// Limiter admits connections.
type Limiter struct {
	lim Limits

	mu        sync.Mutex // guards the following
	sources   map[netip.Prefix]*source
	active    int
	pending   *list.List // of *Ticket, oldest first: connections that may be evicted
	evicted   uint64
	lastPrune time.Time
}

type source struct {
	lim          *rate.Limiter
	active       int
	seen         time.Time
	trustedUntil time.Time
}

// New returns a Limiter that enforces l.
func New(l Limits) *Limiter {
	return &Limiter{lim: l, sources: map[netip.Prefix]*source{}, pending: list.New()}
}

// keysOf returns the prefixes a connection from a counts against, the
// source first.
func keysOf(a netip.Addr) (keys [len(levels)]netip.Prefix, n int) {
	a = a.Unmap()
	for _, lv := range levels {
		bits := lv.bits4
		if a.Is6() {
			bits = lv.bits6
		}
		if bits == 0 {
			continue
		}
		keys[n], _ = a.Prefix(bits)
		n++
	}
	return keys, n
}

// Ticket is an admitted connection. Established says it finished its
// request (it can no longer be evicted); Done gives it back. A nil Ticket
// (from a nil Limiter) does nothing.
type Ticket struct {
	l       *Limiter
	keys    [len(levels)]netip.Prefix
	nkeys   int
	evict   func()
	elem    *list.Element // in l.pending while pending; guarded by l.mu
	done    bool          // guarded by l.mu
	evicted bool          // guarded by l.mu
	trust   bool          // its source was trusted at admission
}

// Admit takes a connection from peer at now, or says why not. evict, when
// set, closes the connection: while the connection is pending (until
// Established or Done), Admit may call it, once, to make room for a new
// connection when all are taken. Each admitted connection is given back
// with Done. A nil Limiter admits everything.
func (l *Limiter) Admit(peer netip.Addr, now time.Time, evict func()) (*Ticket, error) {
	if l == nil {
		return nil, nil
	}
	var victim func()
	defer func() {
		if victim != nil {
			victim() // outside the lock: it closes a connection
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastPrune) > pruneEvery {
		l.pruneLocked(now)
	}
	t := &Ticket{l: l, evict: evict}
	t.keys, t.nkeys = keysOf(peer)
	var srcs [len(levels)]*source
	for i, k := range t.keys[:t.nkeys] {
		s := l.sources[k]
		if s == nil {
			if len(l.sources) >= l.lim.MaxSources {
				return nil, ErrSources
			}
			f := levels[i].factor
			s = &source{lim: rate.NewLimiter(rate.Limit(l.lim.Rate*float64(f)), l.lim.Burst*f)}
			l.sources[k] = s
		}
		s.seen = now
		srcs[i] = s
	}
	t.trust = now.Before(srcs[0].trustedUntil)
	if !t.trust {
		for i, s := range srcs[:t.nkeys] {
			if s.active >= l.lim.PerSource*levels[i].factor {
				if i == 0 {
					return nil, ErrSource
				}
				return nil, ErrNetwork
			}
		}
		// Every level's bucket must have a token; take them only then.
		for _, s := range srcs[:t.nkeys] {
			if s.lim.TokensAt(now) < 1 {
				return nil, ErrRate
			}
		}
		for _, s := range srcs[:t.nkeys] {
			s.lim.AllowN(now, 1)
		}
	}
	if l.active >= l.lim.Total {
		v := l.victimLocked()
		if v == nil {
			return nil, ErrTotal
		}
		l.releaseLocked(v)
		v.evicted = true
		l.evicted++
		victim = v.evict
	}
	for _, s := range srcs[:t.nkeys] {
		s.active++
	}
	l.active++
	if evict != nil {
		t.elem = l.pending.PushBack(t)
	}
	return t, nil
}

// victimLocked picks the pending connection to evict: the oldest of an
// untrusted source among the first evictScan, else the oldest.
func (l *Limiter) victimLocked() *Ticket {
	front := l.pending.Front()
	if front == nil {
		return nil
	}
	i := 0
	for e := front; e != nil && i < evictScan; e, i = e.Next(), i+1 {
		if t := e.Value.(*Ticket); !t.trust {
			return t
		}
	}
	return front.Value.(*Ticket)
}

// releaseLocked gives t's connection back.
func (l *Limiter) releaseLocked(t *Ticket) {
	if t.done {
		return
	}
	t.done = true
	if t.elem != nil {
		l.pending.Remove(t.elem)
		t.elem = nil
	}
	for _, k := range t.keys[:t.nkeys] {
		if s := l.sources[k]; s != nil && s.active > 0 {
			s.active--
		}
	}
	l.active--
}

// Established says the connection finished its request: it is no longer
// evicted to make room.
func (t *Ticket) Established() {
	if t == nil {
		return
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	if t.elem != nil {
		t.l.pending.Remove(t.elem)
		t.elem = nil
	}
}

// Done gives the connection back. It may be called more than once, and
// after the connection was evicted.
func (t *Ticket) Done() {
	if t == nil {
		return
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	t.l.releaseLocked(t)
}

// Evicted reports whether the connection was closed to make room: its
// handler's errors are of the Limiter's doing.
func (t *Ticket) Evicted() bool {
	if t == nil {
		return false
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	return t.evicted
}

// Trust lifts the rate and the per-source caps of peer's source (an IPv4
// address, an IPv6 /64) until TrustFor after now: it proved itself (a
// peer gateway's certificate).
func (l *Limiter) Trust(peer netip.Addr, now time.Time) {
	if l == nil || l.lim.TrustFor <= 0 {
		return
	}
	keys, _ := keysOf(peer)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sources[keys[0]]
	if s == nil {
		if len(l.sources) >= l.lim.MaxSources {
			return
		}
		s = &source{lim: rate.NewLimiter(rate.Limit(l.lim.Rate), l.lim.Burst)}
		l.sources[keys[0]] = s
	}
	s.seen = now
	s.trustedUntil = now.Add(l.lim.TrustFor)
}

// Stats are a Limiter's counts.
type Stats struct {
	Active  int    // connections held
	Pending int    // of those, connections that may be evicted
	Evicted uint64 // connections evicted since New
}

// Stats returns the Limiter's counts.
func (l *Limiter) Stats() Stats {
	if l == nil {
		return Stats{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Active: l.active, Pending: l.pending.Len(), Evicted: l.evicted}
}

// pruneLocked forgets sources idle for pruneIdle with nothing open and no
// trust left.
func (l *Limiter) pruneLocked(now time.Time) {
	l.lastPrune = now
	for k, s := range l.sources {
		if s.active == 0 && now.Sub(s.seen) > pruneIdle && !now.Before(s.trustedUntil) {
			delete(l.sources, k)
		}
	}
}

// Busy reports whether a connection from peer should prove its address
// before it is admitted (a QUIC Retry, against forged source addresses):
// when the Limiter holds a quarter of its total, or peer's source half its
// cap.
func (l *Limiter) Busy(peer netip.Addr) bool {
	if l == nil {
		return false
	}
	keys, _ := keysOf(peer)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active >= l.lim.Total/4 {
		return true
	}
	s := l.sources[keys[0]]
	return s != nil && s.active >= l.lim.PerSource/2
}
