package gateway

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// edgeLimiter admits connections to the public edge (the public EPMD and
// the TLS termination ports): a token bucket per source, a cap on the
// connections a source holds at once, and a cap on all of them. A source
// is an IPv4 address or an IPv6 /64, so that one host cannot multiply
// itself across its subnet.
type edgeLimiter struct {
	rate    rate.Limit
	burst   int
	perAddr int
	total   int

	mu        sync.Mutex // guards the following
	sources   map[netip.Prefix]*edgeSource
	active    int
	lastPrune time.Time
}

type edgeSource struct {
	lim    *rate.Limiter
	active int
	seen   time.Time
}

// maxEdgeSources bounds the sources remembered; past it (after pruning
// those idle for a minute), new sources are refused until some expire.
const maxEdgeSources = 100_000

func newEdgeLimiter(r float64, burst, perAddr, total int) *edgeLimiter {
	return &edgeLimiter{rate: rate.Limit(r), burst: burst, perAddr: perAddr, total: total, sources: map[netip.Prefix]*edgeSource{}}
}

func sourceOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}

// admit takes a connection from peer; reason says why not.
func (l *edgeLimiter) admit(peer netip.Addr, now time.Time) (ok bool, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastPrune) > 10*time.Second {
		l.pruneLocked(now)
	}
	key := sourceOf(peer)
	s := l.sources[key]
	if s == nil {
		if len(l.sources) >= maxEdgeSources {
			return false, "too many sources"
		}
		s = &edgeSource{lim: rate.NewLimiter(l.rate, l.burst)}
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

// done releases a connection admit took.
func (l *edgeLimiter) done(peer netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.sources[sourceOf(peer)]; s != nil && s.active > 0 {
		s.active--
		l.active--
	}
}

// pruneLocked forgets sources idle for a minute with nothing open.
func (l *edgeLimiter) pruneLocked(now time.Time) {
	l.lastPrune = now
	for k, s := range l.sources {
		if s.active == 0 && now.Sub(s.seen) > time.Minute {
			delete(l.sources, k)
		}
	}
}
