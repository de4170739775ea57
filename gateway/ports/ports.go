// Package ports is the gateway's one pool of on-demand ports: a listener
// per key (a remote node's loopback proxy port, an exported node's public
// TLS port), opened on first use, kept while used, and released once idle.
// The pool owns every goroutine it starts (an accept loop per port, a
// goroutine per connection, a janitor) and waits for them on Wait.
package ports

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/gateway/admit"
)

// Config is what a Pool uses.
type Config struct {
	// Name says what a port is, in errors and logs ("proxy port").
	Name string
	// Addr is the IP the ports open on.
	Addr netip.Addr
	// Max bounds the ports open at once. Past it, Open evicts the port
	// that was never connected (MarkConnected) and has not been used for
	// the longest; it fails when every port has been connected.
	Max int
	// Idle releases a port that has had no connection and no Open for this
	// long.
	Idle time.Duration
	// Admit, when set, admits each connection before it is served; a
	// refused connection is closed at once, and a connection that has not
	// told Established may be closed to make room for a new one.
	Admit *admit.Limiter
	// Refusals, when set, logs the connections Admit refuses; else they
	// are closed without a word.
	Refusals *admit.Log
	// Logger receives the pool's log.
	Logger *slog.Logger
	// Now is the clock that orders ports by use; time.Now when nil.
	Now func() time.Time
}

// Handler serves one connection to a port. ctx ends when the pool stops.
type Handler[T any] func(ctx context.Context, p *Port[T], c net.Conn)

// Owner is who a port opened is charged to: the pool keeps at most Max
// ports for one Key (0: no bound but the pool's). Past it, the owner's
// own port that was never connected and has not been used for the
// longest is evicted for the new one.
type Owner struct {
	Key string
	Max int
}

// Port is an open port and the value its last Open gave it.
type Port[T any] struct {
	key       string
	owner     string // the Owner.Key of the Open that opened it
	number    int
	ln        net.Listener
	value     atomic.Pointer[T]
	active    atomic.Int64
	lastUsed  atomic.Int64 // Unix nanoseconds
	connected atomic.Bool
}

// Key returns the key the port was opened for.
func (p *Port[T]) Key() string { return p.key }

// Number returns the port number.
func (p *Port[T]) Number() int { return p.number }

// Value returns the value of the port's latest Open.
func (p *Port[T]) Value() T { return *p.value.Load() }

// Active returns the connections the port is serving.
func (p *Port[T]) Active() int64 { return p.active.Load() }

// MarkConnected records that a connection through the port did what it
// came for (a relay started): the port is in use, and is never evicted
// for another; it is released once idle.
func (p *Port[T]) MarkConnected() { p.connected.Store(true) }

// evictable reports whether the port may make room for another: no
// connection now, and none ever connected.
func (p *Port[T]) evictable() bool { return p.active.Load() == 0 && !p.connected.Load() }

func (p *Port[T]) touch(now time.Time) { p.lastUsed.Store(now.UnixNano()) }

// Pool opens, serves and releases ports; T is what a port stands for
// (a route, nothing). It is safe for concurrent use.
type Pool[T any] struct {
	cfg    Config
	log    *slog.Logger
	handle Handler[T]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards the following
	ports map[string]*Port[T]
	owned map[string]int // ports open per Owner.Key
}

// New starts a pool whose ports serve their connections with handle.
func New[T any](cfg Config, handle Handler[T]) *Pool[T] {
	p := &Pool[T]{cfg: cfg, log: cfg.Logger, handle: handle, ports: map[string]*Port[T]{}, owned: map[string]int{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.cfg.Now == nil {
		p.cfg.Now = time.Now
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.janitor()
	return p
}

// Addr returns the IP the ports open on.
func (p *Pool[T]) Addr() netip.Addr { return p.cfg.Addr }

// Open returns the port of key, opening it on first use for owner, and
// gives it v. A new port may evict one that was never connected: the
// owner's own when it holds its most, else the pool's least recently used
// when the pool is full. A port already open stays charged to the owner
// that opened it.
func (p *Pool[T]) Open(key string, v T, owner Owner) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return 0, fmt.Errorf("%s for %s: the gateway is shutting down", p.cfg.Name, key)
	}
	now := p.cfg.Now()
	if pp, ok := p.ports[key]; ok {
		pp.value.Store(&v)
		pp.touch(now)
		return pp.number, nil
	}
	if owner.Max > 0 && owner.Key != "" && p.owned[owner.Key] >= owner.Max &&
		!p.evictLocked(func(pp *Port[T]) bool { return pp.owner == owner.Key }) {
		return 0, fmt.Errorf("%s for %s: %s holds %d %ss, the most it may, and uses every one", p.cfg.Name, key, owner.Key, owner.Max, p.cfg.Name)
	}
	if len(p.ports) >= p.cfg.Max && !p.evictLocked(nil) {
		return 0, fmt.Errorf("%s for %s: %d %ss are open, the most there may be, and every one is in use", p.cfg.Name, key, p.cfg.Max, p.cfg.Name)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.cfg.Addr.String(), "0"))
	if err != nil {
		return 0, fmt.Errorf("%s for %s: %w", p.cfg.Name, key, err)
	}
	pp := &Port[T]{key: key, owner: owner.Key, ln: ln, number: ln.Addr().(*net.TCPAddr).Port}
	pp.value.Store(&v)
	pp.touch(now)
	p.ports[key] = pp
	if pp.owner != "" {
		p.owned[pp.owner]++
	}
	p.log.Info(p.cfg.Name+" opened", "key", key, "port", pp.number, "owner", owner.Key)
	p.wg.Add(1)
	go p.serve(pp)
	return pp.number, nil
}

func (p *Pool[T]) serve(pp *Port[T]) {
	defer p.wg.Done()
	for {
		c, err := pp.ln.Accept()
		if err != nil {
			return
		}
		var ticket *admit.Ticket
		if p.cfg.Admit != nil {
			var peer netip.Addr
			if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				peer = ta.AddrPort().Addr()
			}
			raw := c
			ticket, err = p.cfg.Admit.Admit(peer, time.Now(), func() {
				raw.Close()
				p.cfg.Refusals.Refused(peer, "evicted: every connection was taken", "port", pp.number)
			})
			if err != nil {
				p.cfg.Refusals.Refused(peer, err.Error(), "port", pp.number)
				c.Close()
				continue
			}
			c = &admittedConn{Conn: c, ticket: ticket}
		}
		pp.active.Add(1)
		pp.touch(p.cfg.Now())
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer ticket.Done()
			defer func() { pp.active.Add(-1); pp.touch(p.cfg.Now()) }()
			p.handle(p.ctx, pp, c)
		}()
	}
}

// evictLocked closes the port, among those of which (all when nil), that
// was never connected and has been used the least recently; it reports
// whether there was one.
func (p *Pool[T]) evictLocked(which func(*Port[T]) bool) bool {
	var oldest *Port[T]
	for _, pp := range p.ports {
		if pp.evictable() && (which == nil || which(pp)) && (oldest == nil || pp.lastUsed.Load() < oldest.lastUsed.Load()) {
			oldest = pp
		}
	}
	if oldest == nil {
		return false
	}
	p.removeLocked(oldest)
	p.log.Info(p.cfg.Name+" evicted: never connected", "key", oldest.key, "port", oldest.number, "owner", oldest.owner)
	return true
}

// removeLocked closes a port and forgets it.
func (p *Pool[T]) removeLocked(pp *Port[T]) {
	pp.ln.Close()
	delete(p.ports, pp.key)
	if pp.owner != "" {
		if p.owned[pp.owner]--; p.owned[pp.owner] <= 0 {
			delete(p.owned, pp.owner)
		}
	}
}

// admittedConn is a connection a pool with Config.Admit admitted.
type admittedConn struct {
	net.Conn
	ticket *admit.Ticket
}

// Established tells a pool with Config.Admit that connection c, given to a
// Handler, finished its request (a handshake): it is no longer closed to
// make room for new connections. It does nothing to other connections.
func Established(c net.Conn) {
	if a, ok := c.(*admittedConn); ok {
		a.ticket.Established()
	}
}

// janitor releases ports unused for longer than the idle time.
func (p *Pool[T]) janitor() {
	defer p.wg.Done()
	tick := time.NewTicker(max(p.cfg.Idle/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case now := <-tick.C:
			p.releaseIdle(now)
		}
	}
}

// releaseIdle closes the ports that serve no connection and have not been
// used since the idle time before now.
func (p *Pool[T]) releaseIdle(now time.Time) {
	cutoff := now.Add(-p.cfg.Idle).UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, pp := range p.ports {
		if pp.active.Load() == 0 && pp.lastUsed.Load() < cutoff {
			p.removeLocked(pp)
			p.log.Info(p.cfg.Name+" released", "key", key, "port", pp.number)
		}
	}
}

// Each calls f with every open port.
func (p *Pool[T]) Each(f func(*Port[T])) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.ports {
		f(pp)
	}
}

// Stop closes every port and ends the pool's context (the handlers'); it
// does not wait for the connections being served: Wait does.
func (p *Pool[T]) Stop() {
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.ports {
		pp.ln.Close()
	}
}

// Wait waits for every goroutine of the pool, after Stop.
func (p *Pool[T]) Wait() { p.wg.Wait() }

// Close stops the pool and waits for it.
func (p *Pool[T]) Close() {
	p.Stop()
	p.Wait()
}
