// Package admit decides whether a listener takes a connection, before a
// byte is read: a token bucket per source, a cap on the connections a
// source holds at once, and a cap on all of them. Any listener can use a
// Limiter; today the public EPMD and the TLS termination ports share one.
// It is pure state with the time passed in, safe for concurrent use.
package admit

import (
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
	// MaxSources bounds the sources remembered; past it (after pruning
	// those idle for a minute), new sources are refused until some
	// expire.
	MaxSources int
}

// Limiter admits connections. A source is an IPv4 address or an IPv6
// /64, so that one host cannot multiply itself across its subnet.
type Limiter struct {
	rate       rate.Limit
	burst      int
	perAddr    int
	total      int
	maxSources int

	mu        sync.Mutex // guards the following
	sources   map[netip.Prefix]*source
	active    int
	lastPrune time.Time
}

type source struct {
	lim    *rate.Limiter
	active int
	seen   time.Time
}

// Sources are pruned at most this often, once idle this long.
const (
	pruneEvery = 10 * time.Second
	pruneIdle  = time.Minute
)

// New returns a Limiter that enforces l.
func New(l Limits) *Limiter {
	return &Limiter{rate: rate.Limit(l.Rate), burst: l.Burst, perAddr: l.PerSource, total: l.Total,
		maxSources: l.MaxSources, sources: map[netip.Prefix]*source{}}
}

func sourceOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}

// Admit takes a connection from peer; reason says why not. Each admitted
// connection is given back with Done.
func (l *Limiter) Admit(peer netip.Addr, now time.Time) (ok bool, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastPrune) > pruneEvery {
		l.pruneLocked(now)
	}
	key := sourceOf(peer)
	s := l.sources[key]
	if s == nil {
		if len(l.sources) >= l.maxSources {
			return false, "too many sources"
		}
		s = &source{lim: rate.NewLimiter(l.rate, l.burst)}
		l.sources[key] = s
	}
	s.seen = now
	switch {
	case l.active >= l.total:
		return false, "too many connections"
	case s.active >= l.perAddr:
		return false, "too many connections from one source"
	case !s.lim.AllowN(now, 1):
		return false, "rate limit"
	}
	s.active++
	l.active++
	return true, ""
}

// Done releases a connection Admit took.
func (l *Limiter) Done(peer netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.sources[sourceOf(peer)]; s != nil && s.active > 0 {
		s.active--
		l.active--
	}
}

// pruneLocked forgets sources idle for pruneIdle with nothing open.
func (l *Limiter) pruneLocked(now time.Time) {
	l.lastPrune = now
	for k, s := range l.sources {
		if s.active == 0 && now.Sub(s.seen) > pruneIdle {
			delete(l.sources, k)
		}
	}
}
