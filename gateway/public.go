package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/distgate/distgate/epmd"
)

// publicEPMD is the policy of the internet-facing EPMD (epmd.Public): a
// token bucket per source address, PORT_PLEASE2 for exported names
// answered with their TLS termination port, NAMES only when allowed, and
// every refusal logged with its reason.
type publicEPMD struct {
	g     *Gateway
	term  *terminator
	log   *slog.Logger
	rate  rate.Limit
	burst int

	mu       sync.Mutex // guards the following
	limiters map[netip.Addr]*limiterEntry
	logged   map[string]time.Time // refusal log lines, at most one a second per reason and address
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newPublicEPMD(g *Gateway, term *terminator) *publicEPMD {
	return &publicEPMD{
		g: g, term: term, log: g.log.With("component", "public-epmd"),
		rate: rate.Limit(g.cfg.Public.Rate), burst: g.cfg.Public.Burst,
		limiters: map[netip.Addr]*limiterEntry{}, logged: map[string]time.Time{},
	}
}

// Admit implements epmd.Public: a token bucket per source address.
func (p *publicEPMD) Admit(peer netip.AddrPort) bool {
	now := time.Now()
	p.mu.Lock()
	e := p.limiters[peer.Addr()]
	if e == nil {
		if len(p.limiters) > 100_000 {
			p.pruneLocked(now)
		}
		e = &limiterEntry{lim: rate.NewLimiter(p.rate, p.burst)}
		p.limiters[peer.Addr()] = e
	}
	e.seen = now
	ok := e.lim.AllowN(now, 1)
	p.mu.Unlock()
	if !ok {
		p.Refused(peer, "rate limit")
	}
	return ok
}

// pruneLocked forgets addresses not seen for a minute.
func (p *publicEPMD) pruneLocked(now time.Time) {
	for a, e := range p.limiters {
		if now.Sub(e.seen) > time.Minute {
			delete(p.limiters, a)
		}
	}
}

// PortPlease implements epmd.Public.
func (p *publicEPMD) PortPlease(ctx context.Context, peer netip.AddrPort, name string) *epmd.PortInfo {
	if ok, reason := p.g.routerNow().Authorize(ctx, AuthInput{Action: ActionLookup, Via: ViaPublic, Target: name, Addr: peer.String()}); !ok {
		p.Refused(peer, fmt.Sprintf("PORT_PLEASE2 %s: %s", name, reason))
		return nil
	}
	var info *epmd.PortInfo
	p.g.epmd.Registry(func(r *epmd.Registry) { info = r.PortPlease(name) })
	if info == nil {
		return nil
	}
	port, err := p.term.portFor(name)
	if err != nil {
		p.log.Error("public PORT_PLEASE2", "name", name, "err", err)
		return nil
	}
	info.Port = uint16(port)
	return info
}

// Names implements epmd.Public: only when allowed, and only exported names.
func (p *publicEPMD) Names(ctx context.Context, peer netip.AddrPort) ([]epmd.NameEntry, bool) {
	router := p.g.routerNow()
	if ok, reason := router.Authorize(ctx, AuthInput{Action: ActionList, Via: ViaPublic, Addr: peer.String()}); !ok {
		p.Refused(peer, "NAMES: "+reason)
		return nil, false
	}
	var nodes []epmd.NodeInfo
	p.g.epmd.Registry(func(r *epmd.Registry) { nodes = r.Nodes() })
	var out []epmd.NameEntry
	for _, n := range nodes {
		if ok, _ := router.Authorize(ctx, AuthInput{Action: ActionList, Via: ViaPublic, Target: n.Name, Addr: peer.String()}); !ok {
			continue
		}
		port, err := p.term.portFor(n.Name)
		if err != nil {
			continue
		}
		out = append(out, epmd.NameEntry{Name: n.Name, Port: port})
	}
	return out, true
}

// Refused implements epmd.Public: logged, at most once a second for the
// same reason and address.
func (p *publicEPMD) Refused(peer netip.AddrPort, what string) {
	kind, _, _ := strings.Cut(what, ":")
	if strings.HasPrefix(kind, "PORT_PLEASE2") {
		kind = "PORT_PLEASE2"
	}
	p.g.metrics.publicRefusals.WithLabelValues(kind).Inc()
	key := peer.Addr().String() + " " + what
	now := time.Now()
	p.mu.Lock()
	last, seen := p.logged[key]
	if seen && now.Sub(last) < time.Second {
		p.mu.Unlock()
		return
	}
	if len(p.logged) > 10_000 {
		p.logged = map[string]time.Time{}
	}
	p.logged[key] = now
	p.mu.Unlock()
	p.log.Warn("public EPMD refused", "peer", peer.String(), "what", what)
}

// startPublic opens the public EPMD and the TLS termination ports.
func (g *Gateway) startPublic(ctx context.Context) error {
	pc := g.cfg.Public
	if pc.Address == "" {
		return nil
	}
	term, err := newTerminator(g, pc.Address, pc.ClientCA)
	if err != nil {
		return err
	}
	g.term = term
	if pc.EPMD == "" {
		return nil
	}
	if g.epmd == nil {
		return fmt.Errorf("public.epmd needs the gateway's own EPMD (epmd.disabled is set)")
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", pc.EPMD)
	if err != nil {
		return fmt.Errorf("public.epmd: %w", err)
	}
	g.publicLn = ln
	g.publicEPMD = epmd.NewServer(epmd.Config{
		Port:   ln.Addr().(*net.TCPAddr).Port,
		Public: newPublicEPMD(g, term),
		Logger: g.log.With("component", "public-epmd"),
	})
	go g.serve(func() error { return g.publicEPMD.Serve(ln) })
	return nil
}
