package wasm

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/abi"
)

// Cached routes. A route whose CacheMS is set says it depends on nothing
// but its request; the version that answered it keeps it, keyed on the
// request's encoding (the name, host, accept list, registry flags and
// endpoints, the asker: all a guest sees, but the asker's source port,
// which is a new ephemeral port on every connection), for CacheMS (at most
// maxCacheTTL), and answers the same request with it without calling the
// guest. A swap or a rollback makes another version active, with a cache
// of its own: no route outlives the version that gave it. A version keeps
// at most 2*maxCachedRoutes routes: when the newest generation is full,
// the older one is dropped.

// maxCacheTTL bounds how long a cached route is reused, whatever the
// policy asks.
const maxCacheTTL = time.Minute

// maxCachedRoutes is the size of one generation of a version's cache.
const maxCachedRoutes = 4096

// routeCache is a version's cache of routes.
type routeCache struct {
	inUse atomic.Bool // a route was ever put: lookups look here first

	mu        sync.RWMutex // guards the following
	cur, prev map[string]cachedRoute
}

// cacheKey appends the key of req in a version's cache to b: its
// encoding with the asker's source port cleared, so that the same node
// asking again from a new connection finds the route.
func cacheKey(b []byte, req *abi.LookupRequest) []byte {
	if !req.Asker.Addr.IsValid() || req.Asker.Addr.Port() == 0 {
		return req.Append(b)
	}
	r := *req
	r.Asker.Addr = netip.AddrPortFrom(r.Asker.Addr.Addr(), 0)
	return r.Append(b)
}

// used reports whether the cache ever held a route.
func (c *routeCache) used() bool { return c.inUse.Load() }

type cachedRoute struct {
	route   abi.Route
	expires int64 // Unix ns
}

// get returns the route cached for the encoded request, if any is still
// valid at now (Unix ns). The route's slices must not be modified.
func (c *routeCache) get(req []byte, now int64) (abi.Route, bool) {
	c.mu.RLock()
	e, ok := c.cur[string(req)]
	if !ok {
		e, ok = c.prev[string(req)]
	}
	c.mu.RUnlock()
	if !ok || now >= e.expires {
		return abi.Route{}, false
	}
	return e.route, true
}

// put caches r for the encoded request when r allows it.
func (c *routeCache) put(req []byte, r abi.Route, now int64) {
	if r.CacheMS == 0 {
		return
	}
	ttl := min(time.Duration(r.CacheMS)*time.Millisecond, maxCacheTTL)
	c.inUse.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || len(c.cur) >= maxCachedRoutes {
		c.prev, c.cur = c.cur, make(map[string]cachedRoute)
	}
	c.cur[string(req)] = cachedRoute{route: r, expires: now + int64(ttl)}
}
