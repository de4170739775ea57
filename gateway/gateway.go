package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/datadir"
	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/filtering"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/ports"
	"github.com/distgate/distgate/gateway/proxy"
	"github.com/distgate/distgate/gateway/relay"
	"github.com/distgate/distgate/gateway/terminate"
	"github.com/distgate/distgate/gateway/ui"
	"github.com/distgate/distgate/wasm"
)

// Options are the parts of a gateway that are not configuration.
type Options struct {
	// Logger receives the gateway's structured log; discarded when nil.
	Logger *slog.Logger
	// Version is the gateway's version, for the status and the metrics.
	Version string
}

// Gateway is a running distgate: the parts New wired together. It holds
// them to close them and to report on them; the parts never hold it.
type Gateway struct {
	site      string
	role      string
	dir       *directory.Directory // the site directory; nil for a standalone gateway
	shared    *policySync          // the site's shared policies; nil for a standalone gateway
	version   string
	log       *slog.Logger
	started   time.Time
	events    *events.Log
	identity  *pki.Identity
	certs     *pki.Manager
	engine    *wasm.Engine
	policies  *policyRouter
	filters   *filtering.Hub // the filter policy's relays
	router    routerSwitch
	metrics   *metrics
	relays    *relay.Table
	links     *link.Manager
	proxies   *proxy.Ports
	nodes     *nodes
	epmd      *epmd.Server // nil when epmd.disabled
	epmdLn    net.Listener
	term      *terminate.Ports // TLS termination ports; nil when off
	public    *epmd.Server     // the internet-facing EPMD; nil when off
	publicLn  net.Listener
	publicLog *admit.Log // its refusals
	queries   *queries
	admin     *adminServer

	wg        sync.WaitGroup // the EPMD servers' loops, the load publisher
	bgCancel  context.CancelFunc
	closeOnce sync.Once
	serveErr  chan error
}

// New starts a gateway: it loads or creates its identity and certificates
// and opens every listener of cfg (with defaults applied). It is the one
// place that reads the configuration: each part is given the values it
// uses.
func New(ctx context.Context, cfg Config, opts Options) (g *Gateway, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gw := &Gateway{site: cfg.Site, role: cfg.Role, version: opts.Version, log: log, started: time.Now(), serveErr: make(chan error, 4),
		events: events.NewLog(eventRing, log.With("component", "events"), nil)}
	bg, bgCancel := context.WithCancel(context.Background())
	gw.bgCancel = bgCancel
	g = gw
	defer func() {
		if err != nil {
			gw.Close() // what was opened before the failure (g is nil by now)
		}
	}()
	if g.identity, err = pki.LoadOrCreateIdentity(cfg.DataDir, cfg.Site, time.Now()); err != nil {
		return nil, err
	}
	logs := newPolicyLogs()
	engineLog := slog.New(&captureHandler{inner: log.Handler(), logs: logs}).With("component", "policy")
	if g.engine, err = wasm.New(ctx, wasm.Config{
		DataDir: cfg.DataDir, Logger: engineLog,
		CallTimeout: cfg.Policy.CallTimeout.Std(), MaxMemoryBytes: cfg.Policy.MaxMemory << 20,
	}); err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	g.metrics = newMetrics(g.engine, cfg.Admin.NodeMetrics)
	g.policies = newPolicyRouter(g.engine, cfg.Policy.Lookup, cfg.Policy.Authorize, newStaticRouter(cfg), cfg.Policy.OnFailure == onFailureDefault)
	g.policies.timed = g.metrics.decided
	g.router.set(g.policies)
	g.filters = filtering.New(filtering.Config{
		Engine: g.engine, Policy: cfg.Policy.Filter, OnFailure: filterFailure(cfg.Policy.FilterOnFailure),
		Logger: log.With("component", "filter"), Events: g.events, Timed: g.metrics.decided,
	})
	g.policies.changed = g.filters.Changed
	if cfg.Role != roleStandalone {
		g.shared = newPolicySync(g.engine, g.policies, log.With("component", "shared-policies"))
		if g.dir, err = newDirectory(cfg, g.identity, g.shared.kick, log); err != nil {
			return nil, err
		}
		g.shared.start(bg, g.dir)
	}
	g.nodes = &nodes{site: cfg.Site, dir: g.dir, certNames: map[string]bool{}} // its EPMD comes below
	for _, n := range append(slices.Clone(cfg.Links.Names), cfg.ACME.Names...) {
		g.nodes.certNames[strings.ToLower(n)] = true
	}
	observer := &relayEvents{metrics: g.metrics, log: g.events}
	g.relays = relay.NewTable(observer, link.EndReason)
	bufs := relay.NewBufs()

	acme, err := acmeOptions(cfg.ACME)
	if err != nil {
		return nil, err
	}
	var acmeStorage certmagic.Storage
	if g.dir != nil {
		acmeStorage = directory.NewStorage(g.dir)
	}
	if g.certs, err = pki.NewManager(ctx, pki.Options{
		DataDir: cfg.DataDir, Site: cfg.Site, Names: cfg.Links.Names,
		Builtin: &pki.BuiltinIssuer{Identity: g.identity}, ACME: acme, ACMEStorage: acmeStorage,
		RenewCheck: cfg.ACME.RenewCheck.Std(), RetryMin: acmeRetryMin, RetryMax: acmeRetryMax,
	}, log); err != nil {
		return nil, err
	}
	trust, err := trustOf(cfg)
	if err != nil {
		return nil, err
	}
	var peers []link.Peer
	for _, p := range cfg.Peers {
		peers = append(peers, link.Peer{Site: p.Site, QUIC: p.QUIC, TLS: p.TLS})
	}
	var edges func() (quic, tls []string)
	if g.dir != nil {
		trust = trust.WithMembers(cfg.Site, siteMembers{g.dir})
		if cfg.Role == roleAgent {
			edges = siteEdges(g.dir)
		}
	}
	if g.links, err = link.New(link.Config{
		Site: cfg.Site, SiteEdges: edges,
		QUIC: cfg.Links.QUIC, TLS: cfg.Links.TLS, Peers: peers, Certs: g.certs, Trust: trust,
		Idle: cfg.Proxy.Idle.Std(), DefaultLiveness: DefaultLiveness, DialTimeout: linkDialTimeout, AcceptIdle: linkAcceptIdle,
		Admit: edgeLimits(), QueryStreams: queryStreams, TLSDials: linkTLSDials, OnDial: g.metrics.dialed, OnState: observer.linkChanged, Logger: log,
	}); err != nil {
		return nil, err
	}
	g.proxies = proxy.New(proxy.Config{
		Ports: ports.Config{
			Addr: netip.MustParseAddr(cfg.Proxy.Address), // validated: a loopback IP
			Max:  MaxProxyPorts, Idle: cfg.Proxy.Idle.Std(), Logger: log,
		},
		HandshakeTimeout: handshakeTimeout, Callers: g.nodes, Links: g.links, Relays: g.relays, Bufs: bufs,
		Filters: g.filters,
	})
	if !cfg.EPMD.Disabled {
		res := &resolver{router: &g.router, nodes: g.nodes, links: g.links, proxies: g.proxies, metrics: g.metrics, log: log}
		if cfg.Role == roleAgent {
			res.viaSite = cfg.Site // remote nodes are reached through the site's edges
		}
		if err = g.startEPMD(ctx, cfg.EPMD, res); err != nil {
			return nil, err
		}
	}
	g.metrics.watchFilters(g.filters)
	if err = g.startPublic(ctx, cfg.Public, cfg.Proxy.Idle.Std(), bufs, trust); err != nil {
		return nil, err
	}
	publicAddr, _ := netip.ParseAddr(cfg.Public.Address) // validated; may be unset
	g.queries = newQueries(&g.router, g.nodes, g.term, publicAddr, log)
	if cfg.Remote.Listen != "" {
		if err = g.queries.listen(cfg.Remote.Listen, g.certs, trust); err != nil {
			return nil, err
		}
	}
	g.metrics.reg.MustRegister(&partsCollector{site: cfg.Site, version: opts.Version, started: g.started, links: g.links,
		certs: g.certs, nodes: g.nodes, epmds: map[string]*epmd.Server{"local": g.epmd, "public": g.public}})
	if g.dir != nil {
		g.metrics.watchDirectory(g.dir)
	}
	// Peers' streams are served once everything they reach is in place.
	in := &inbound{site: cfg.Site, agent: cfg.Role == roleAgent, router: &g.router, nodes: g.nodes, queries: g.queries, relays: g.relays,
		links: g.links, bufs: bufs, filters: g.filters, log: log}
	g.links.Serve(in.serveStream)
	token, err := datadir.LoadOrCreateToken(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Role == roleEdge {
		g.wg.Add(1)
		go g.publishLoad(bg)
	}
	page := ui.New(ui.Config{State: g.page, Logger: log.With("component", "ui")})
	if g.admin, err = newAdminServer(cfg.Admin.Listen, cfg.Admin.Probes, token, adminDeps{
		status: g.Status, engine: g.engine, policies: g.policies, shared: g.shared, dir: g.dir, logs: logs, nodes: g.nodes, metrics: g.metrics.reg,
		lookup: cfg.Policy.Lookup, authorize: cfg.Policy.Authorize, filter: cfg.Policy.Filter, fail: g.fail,
		events: g.events, ready: g.ready, ui: page, decisionP99: g.metrics.decisionP99,
	}); err != nil {
		return nil, err
	}
	quicAddr, tlsAddr := g.links.Addrs()
	remote := "off"
	if g.queries.ln != nil {
		remote = g.queries.ln.Addr().String()
	}
	log.Info("distgate running", "site", cfg.Site, "role", cfg.Role, "identity", g.identity.ID.String(), "epmd", addrString(g.epmdLn),
		"admin", g.admin.addr(), "probes", g.admin.probesAddr(), "public_epmd", addrString(g.publicLn), "remote", remote,
		"quic", netAddrString(quicAddr), "tls", netAddrString(tlsAddr), "data_dir", cfg.DataDir)
	return g, nil
}

// startEPMD opens the classic EPMD and serves it.
func (g *Gateway) startEPMD(ctx context.Context, c EPMDConfig, res epmd.Resolver) error {
	// No keep-alive probes, as the drop-in's listeners (epmd.Listen): a
	// lookup lives for one request, and they cost four setsockopt calls per
	// connection, 6% of a lookup's CPU.
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(ctx, "tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("epmd.listen: %w", err)
	}
	g.epmdLn = ln
	var cl epmd.Claims
	if g.dir != nil {
		cl = claims{dir: g.dir, host: thisHost(c)} // the agent publishes its host's registrations
	}
	g.epmd = epmd.NewServer(epmd.Config{
		Claims:    cl,
		Port:      ln.Addr().(*net.TCPAddr).Port,
		Relaxed:   c.Relaxed,
		HostNames: c.Hosts,
		Resolver:  res,
		PeerUID:   peerUID,
		NonLocal:  &nonLocalEPMD{router: &g.router, nodes: g.nodes, log: g.log.With("component", "epmd")},
		Logger:    g.log.With("component", "epmd"),
		// `epmd -kill`, which any local user may send, is refused: the
		// EPMD carries this host's registrations for the links and relays,
		// and stops with the gateway (SIGTERM).
		NoKill: true,
	})

	g.nodes.epmd = g.epmd // before the EPMD serves anyone
	g.serve(g.epmd, ln)
	return nil
}

// startPublic opens the TLS termination ports (released when idle for
// idle) and the public EPMD. trust tells which callers' certificates are
// also remote query clients'.
func (g *Gateway) startPublic(ctx context.Context, pc PublicConfig, idle time.Duration, bufs *relay.Bufs, trust *pki.Trust) error {
	if pc.Address == "" {
		return nil
	}
	var clientCAs *x509.CertPool
	if pc.ClientCA != "" {
		var err error
		if clientCAs, err = pki.LoadPool(pc.ClientCA, "public.client_ca"); err != nil {
			return err
		}
	}
	// The public EPMD and the TLS ports each have a budget of their own:
	// a flood of one does not lock the other.
	limits := admit.Limits{Rate: pc.Rate, Burst: pc.Burst, PerSource: publicPerAddr, Total: publicTotal, MaxSources: publicMaxSources}
	reach := reachPolicy{router: &g.router, trust: trust}
	g.term = terminate.New(terminate.Config{
		Ports: ports.Config{
			Addr: netip.MustParseAddr(pc.Address), // validated: an IP
			Max:  MaxTerminationPorts, Idle: idle, Admit: admit.New(limits), Logger: g.log.With("component", "terminate"),
		},
		HandshakeTimeout: handshakeTimeout, ClientCAs: clientCAs, Certs: g.certs,
		Policy: reach, Backends: g.nodes, Relays: g.relays, Bufs: bufs, Filter: reach.filterCaller(g.filters),
	})
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
	plog := g.log.With("component", "public-epmd")
	g.publicLog = admit.NewLog(plog, "public EPMD refused")
	g.public = epmd.NewServer(epmd.Config{
		Port: ln.Addr().(*net.TCPAddr).Port,
		Public: &publicEPMD{router: &g.router, nodes: g.nodes, term: g.term, limit: admit.New(limits), metrics: g.metrics,
			refusals: g.publicLog, log: plog},
		RequestTimeout: publicRequestTime,
		Logger:         plog,
	})
	g.serve(g.public, ln)
	return nil
}

// serve runs an EPMD server's loop on ln, owned by the gateway: Close
// waits for it. A failure is reported on Err.
func (g *Gateway) serve(s *epmd.Server, ln net.Listener) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := s.Serve(ln); err != nil {
			g.fail(err)
		}
	}()
}

// fail reports a listener's failure on Err, once.
func (g *Gateway) fail(err error) {
	select {
	case g.serveErr <- err:
	default:
	}
}

// Err returns a channel that yields an error if a listener fails.
func (g *Gateway) Err() <-chan error { return g.serveErr }

// Identity returns the gateway's identity.
func (g *Gateway) Identity() *pki.Identity { return g.identity }

// EPMDAddr returns the EPMD listener's address (nil when disabled).
func (g *Gateway) EPMDAddr() net.Addr {
	if g.epmdLn == nil {
		return nil
	}
	return g.epmdLn.Addr()
}

// AdminAddr returns where the admin API listens.
func (g *Gateway) AdminAddr() string { return g.admin.addr() }

// LinkAddrs returns the QUIC and TLS link listeners' addresses.
func (g *Gateway) LinkAddrs() (quicAddr, tlsAddr net.Addr) { return g.links.Addrs() }

// SetRouter replaces the routing policy; nil restores the uploaded
// policies (with the built-in one behind them).
func (g *Gateway) SetRouter(r Router) {
	if r == nil {
		r = g.policies
	}
	g.router.set(r)
}

// Close stops every listener and relay and waits for everything the
// gateway started. It is idempotent.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		if g.relays != nil {
			g.relays.Closing()
		}
		if g.admin != nil {
			g.admin.close()
		}
		// The policies first: Close interrupts the calls in flight and
		// ends the waits for them, so that the lookups and relays waited
		// for below end at once, whatever the policies do.
		if g.engine != nil {
			g.engine.Close(context.Background())
		}
		if g.queries != nil {
			g.queries.close()
		}
		if g.proxies != nil {
			g.proxies.Stop()
		}
		if g.public != nil {
			g.public.Close()
			g.publicLog.Close()
		}
		if g.term != nil {
			g.term.Close()
		}
		if g.epmd != nil {
			g.epmd.Close()
		}
		if g.bgCancel != nil {
			g.bgCancel()
		}
		g.wg.Wait()
		if g.shared != nil {
			g.shared.wait()
		}
		if g.dir != nil {
			g.dir.Close() // the lease revoked: this gateway's records leave the directory at once
		}
		if g.links != nil {
			g.links.Close()
		}
		if g.proxies != nil {
			g.proxies.Wait()
		}
		if g.certs != nil {
			g.certs.Close()
		}
		if g.filters != nil {
			g.filters.Close()
		}
	})
	return nil
}

// trustOf loads the trust of the configuration: its peers (pinned
// identities, CA bundles) and the CA of remote query clients.
func trustOf(cfg Config) (*pki.Trust, error) {
	var peers []pki.Peer
	for _, p := range cfg.Peers {
		tp := pki.Peer{Site: p.Site, ServerName: p.ServerName}
		if p.Identity != "" {
			id, err := pki.ParseIdentity(p.Identity)
			if err != nil {
				return nil, fmt.Errorf("peer %s: %w", p.Site, err)
			}
			tp.Pinned = &id
		}
		if p.CA != "" {
			pool, err := pki.LoadPool(p.CA, "peer "+p.Site+": ca")
			if err != nil {
				return nil, err
			}
			tp.Roots = pool
		}
		peers = append(peers, tp)
	}
	var clients *x509.CertPool
	if cfg.Remote.ClientCA != "" {
		var err error
		if clients, err = pki.LoadPool(cfg.Remote.ClientCA, "remote.client_ca"); err != nil {
			return nil, err
		}
	}
	return pki.NewTrust(peers, clients), nil
}

// acmeOptions turns the acme section into the certificate manager's.
func acmeOptions(c ACMEConfig) (pki.ACME, error) {
	a := pki.ACME{
		Names: c.Names, CA: c.CA, Email: c.Email, HTTPChallenge: c.Challenge == challengeHTTP,
		TLSALPNPort: c.TLSALPNPort, RenewalRatio: c.RenewalRatio,
	}
	if len(c.Names) == 0 {
		return a, nil
	}
	if a.HTTPChallenge {
		host, port, err := splitPort(c.HTTPAddress)
		if err != nil {
			return a, fmt.Errorf("acme.http_address: %w", err)
		}
		a.HTTPHost, a.HTTPPort = host, port
	}
	if c.TrustedRoots != "" {
		pool, err := pki.LoadPool(c.TrustedRoots, "acme.trusted_roots")
		if err != nil {
			return a, err
		}
		a.TrustedRoots = pool
	}
	return a, nil
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	var port int
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		return "", 0, fmt.Errorf("%q: bad port", addr)
	}
	return addr[:i], port, nil
}
