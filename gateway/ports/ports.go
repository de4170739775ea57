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
	// Max bounds the ports open at once; past it, Open fails until idle
	// ports are released.
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
}

// Handler serves one connection to a port. ctx ends when the pool stops.
type Handler[T any] func(ctx context.Context, p *Port[T], c net.Conn)

// Port is an open port and the value its last Open gave it.
type Port[T any] struct {
	key      string
	number   int
	ln       net.Listener
	value    atomic.Pointer[T]
	active   atomic.Int64
	lastUsed atomic.Int64 // Unix nanoseconds
}

// Key returns the key the port was opened for.
func (p *Port[T]) Key() string { return p.key }

// Number returns the port number.
func (p *Port[T]) Number() int { return p.number }

// Value returns the value of the port's latest Open.
func (p *Port[T]) Value() T { return *p.value.Load() }

// Active returns the connections the port is serving.
func (p *Port[T]) Active() int64 { return p.active.Load() }

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

	mu    sync.Mutex // guards ports
	ports map[string]*Port[T]
}

// New starts a pool whose ports serve their connections with handle.
func New[T any](cfg Config, handle Handler[T]) *Pool[T] {
	p := &Pool[T]{cfg: cfg, log: cfg.Logger, handle: handle, ports: map[string]*Port[T]{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.janitor()
	return p
}

// Addr returns the IP the ports open on.
func (p *Pool[T]) Addr() netip.Addr { return p.cfg.Addr }

// Open returns the port of key, opening it on first use, and gives it v.
func (p *Pool[T]) Open(key string, v T) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return 0, fmt.Errorf("%s for %s: the gateway is shutting down", p.cfg.Name, key)
	}
	now := time.Now()
	if pp, ok := p.ports[key]; ok {
		pp.value.Store(&v)
		pp.touch(now)
		return pp.number, nil
	}
	if len(p.ports) >= p.cfg.Max {
		return 0, fmt.Errorf("%s for %s: %d %ss are open, the most there may be", p.cfg.Name, key, p.cfg.Max, p.cfg.Name)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.cfg.Addr.String(), "0"))
	if err != nil {
		return 0, fmt.Errorf("%s for %s: %w", p.cfg.Name, key, err)
	}
	pp := &Port[T]{key: key, ln: ln, number: ln.Addr().(*net.TCPAddr).Port}
	pp.value.Store(&v)
	pp.touch(now)
	p.ports[key] = pp
	p.log.Info(p.cfg.Name+" opened", "key", key, "port", pp.number)
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
		pp.touch(time.Now())
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer ticket.Done()
			defer func() { pp.active.Add(-1); pp.touch(time.Now()) }()
			p.handle(p.ctx, pp, c)
		}()
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
			pp.ln.Close()
			delete(p.ports, key)
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
