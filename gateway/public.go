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

	"github.com/distgate/distgate/gateway/admit"

	"github.com/distgate/distgate/epmd"
)

// publicEPMD is the policy of the internet-facing EPMD (epmd.Public): the
// edge limiter, PORT_PLEASE2 for exported names answered with their TLS
// termination port, NAMES only when allowed, and every refusal logged
// with its reason.
type publicEPMD struct {
	g     *Gateway
	term  *terminator
	log   *slog.Logger
	limit *admit.Limiter

	mu     sync.Mutex           // guards logged
	logged map[string]time.Time // refusal log lines, at most one a second per reason and address
}

func newPublicEPMD(g *Gateway, term *terminator, limit *admit.Limiter) *publicEPMD {
	return &publicEPMD{g: g, term: term, log: g.log.With("component", "public-epmd"), limit: limit, logged: map[string]time.Time{}}
}

// Admit implements epmd.Public.
func (p *publicEPMD) Admit(peer netip.AddrPort) bool {
	ok, reason := p.limit.Admit(peer.Addr(), time.Now())
	if !ok {
		p.Refused(peer, reason)
	}
	return ok
}

// Done implements epmd.Public.
func (p *publicEPMD) Done(peer netip.AddrPort) { p.limit.Done(peer.Addr()) }

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
	limit := admit.New(admit.Limits{Rate: pc.Rate, Burst: pc.Burst, PerSource: publicPerAddr, Total: publicTotal, MaxSources: publicMaxSources})
	term, err := newTerminator(g, pc.Address, pc.ClientCA, limit)
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
		Port:           ln.Addr().(*net.TCPAddr).Port,
		Public:         newPublicEPMD(g, term, limit),
		RequestTimeout: publicRequestTime,
		Logger:         g.log.With("component", "public-epmd"),
	})
	go g.serve(func() error { return g.publicEPMD.Serve(ln) })
	return nil
}
