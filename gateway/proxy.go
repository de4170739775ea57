package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/gateway/handshake"
	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/relay"
)

// proxyPort is a loopback listener standing for one remote node: a local
// node that connects to it is relayed to that node through a link.
type proxyPort struct {
	target   string
	route    atomic.Pointer[Route]
	ln       net.Listener
	port     int
	active   atomic.Int64
	lastUsed atomic.Int64 // Unix nanoseconds
}

func (pp *proxyPort) touch() { pp.lastUsed.Store(time.Now().UnixNano()) }

// proxyPorts allocates proxy ports on first lookup, reuses them, and
// releases those idle for longer than idle.
type proxyPorts struct {
	addr   string
	idle   time.Duration
	log    *slog.Logger
	links  *links
	relays *relay.Table
	bufs   *relay.Bufs

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the following
	byTarget map[string]*proxyPort
}

func newProxyPorts(addr string, idle time.Duration, l *links, relays *relay.Table, bufs *relay.Bufs, log *slog.Logger) *proxyPorts {
	p := &proxyPorts{addr: addr, idle: idle, log: log, links: l, relays: relays, bufs: bufs, byTarget: map[string]*proxyPort{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.janitor()
	return p
}

// portFor returns the proxy port for a remote node, opening it on first
// use; the route is refreshed on every lookup.
func (p *proxyPorts) portFor(target string, rt Route) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return 0, fmt.Errorf("gateway is shutting down")
	}
	if pp, ok := p.byTarget[target]; ok {
		pp.route.Store(&rt)
		pp.touch()
		return pp.port, nil
	}
	if len(p.byTarget) >= MaxProxyPorts {
		return 0, fmt.Errorf("proxy port for %s: %d proxy ports are open, the most there may be", target, MaxProxyPorts)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("proxy port for %s: %w", target, err)
	}
	pp := &proxyPort{target: target, ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	pp.route.Store(&rt)
	pp.touch()
	p.byTarget[target] = pp
	p.log.Info("proxy port opened", "target", target, "port", pp.port, "via", rt.Site)
	p.wg.Add(1)
	go p.serve(pp)
	return pp.port, nil
}

func (p *proxyPorts) serve(pp *proxyPort) {
	defer p.wg.Done()
	for {
		c, err := pp.ln.Accept()
		if err != nil {
			return
		}
		pp.active.Add(1)
		pp.touch()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() { pp.active.Add(-1); pp.touch() }()
			p.handle(pp, c)
		}()
	}
}

// handle relays one connection from a local node: it reads the node's
// send_name to learn who calls, opens a stream to the peer gateway with
// that message as its first bytes, and relays once the peer accepted.
func (p *proxyPorts) handle(pp *proxyPort, c net.Conn) {
	rt := *pp.route.Load()
	c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	frame, body, err := handshake.ReadFrame(c, 2, handshake.MaxSendName)
	if err != nil {
		p.log.Warn("relay refused: no send_name from the local node", "target", pp.target, "err", err)
		c.Close()
		return
	}
	sn, err := handshake.ParseSendName(body)
	if err != nil {
		p.log.Warn("relay refused: bad send_name", "target", pp.target, "err", err)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithTimeout(p.ctx, handshakeTimeout)
	s, err := p.links.open(ctx, rt.Site, rt.Transport, rt.Liveness, linkwire.Header{
		Kind: linkwire.KindRelay, Target: pp.target, Caller: sn.Name, Liveness: rt.Liveness, Tick: rt.Tick,
	}, frame)
	cancel()
	if err != nil {
		p.relays.Refused(relay.Out, rt.Transport)
		p.log.Error("relay refused", "caller", sn.Name, "target", pp.target, "via", rt.Site, "err", err)
		c.Close()
		return
	}
	transport, _ := p.links.transportFor(rt.Site, rt.Transport)
	ri := p.relays.Add(sn.Name, pp.target, rt.Site, transport, relay.Out)
	defer p.relays.Remove(ri)
	p.log.Debug("relay started", "caller", sn.Name, "target", pp.target, "via", rt.Site, "transport", transport)
	local := relay.Conn(c.(*net.TCPConn))
	if rt.Tick > 0 {
		local = relay.NewTicker(c.(*net.TCPConn), rt.Tick, true)
	}
	if err := relay.Run(local, s, p.bufs, &ri.Stats); err != nil {
		p.log.Info("relay ended", "caller", sn.Name, "target", pp.target, "err", err)
	}
}

// janitor releases proxy ports unused for longer than idle.
func (p *proxyPorts) janitor() {
	defer p.wg.Done()
	tick := time.NewTicker(max(p.idle/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
		cutoff := time.Now().Add(-p.idle).UnixNano()
		p.mu.Lock()
		for target, pp := range p.byTarget {
			if pp.active.Load() == 0 && pp.lastUsed.Load() < cutoff {
				pp.ln.Close()
				delete(p.byTarget, target)
				p.log.Info("proxy port released", "target", target, "port", pp.port)
			}
		}
		p.mu.Unlock()
	}
}

// ProxyStatus describes a proxy port.
type ProxyStatus struct {
	Target string `json:"target"`
	Port   int    `json:"port"`
	Via    string `json:"via"`
	Active int64  `json:"active"`
}

func (p *proxyPorts) status() []ProxyStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProxyStatus, 0, len(p.byTarget))
	for _, pp := range p.byTarget {
		out = append(out, ProxyStatus{Target: pp.target, Port: pp.port, Via: pp.route.Load().Site, Active: pp.active.Load()})
	}
	return out
}

func (p *proxyPorts) close() {
	p.cancel()
	p.mu.Lock()
	for _, pp := range p.byTarget {
		pp.ln.Close()
	}
	p.mu.Unlock()
}

// wait waits for every relay of the proxy ports to end.
func (p *proxyPorts) wait() { p.wg.Wait() }
