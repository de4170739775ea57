// Package gateway wires distgate together: the EPMD with its routing
// resolver, the links to peer gateways (QUIC and TLS), the loopback proxy
// ports of remote nodes, the relays, certificates, policies and the admin
// API.
//
// A lookup of a remote node (name@host routed via a peer site) is answered
// with a loopback proxy port. A node that connects to it is relayed, after
// its send_name has told who calls, over a stream to the peer gateway,
// which asks its policy, finds the target in its registry and connects to
// it. Distribution bytes pass unchanged.
package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/wasm"
)

// Options are the parts of a gateway that are not configuration.
type Options struct {
	// Logger receives the gateway's structured log; discarded when nil.
	Logger *slog.Logger
}

// Gateway is a running distgate.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	identity *Identity
	certs    *certManager
	epmd     *epmd.Server
	epmdLn   net.Listener
	links    *links
	proxies  *proxyPorts
	relays   *relayTable
	bufs     *relayBufs
	admin    *adminServer
	engine   *wasm.Engine
	policies *policyRouter
	// policyLogs keeps each policy's recent log lines.
	policyLogs *policyLogs
	metrics    *metrics
	term       *terminator // TLS termination ports; nil when off
	// publicEPMD is the internet-facing EPMD; nil when off.
	publicEPMD *epmd.Server
	publicLn   net.Listener
	remoteLn   net.Listener // remote queries over TLS; nil when off
	started    time.Time
	router     atomic.Pointer[routerBox]
	inbound    sync.WaitGroup // relays of streams peers opened

	closeOnce sync.Once
	serveErr  chan error
	killed    chan struct{} // closed when a KILL request stopped the EPMD
}

// routerBox lets the active router be swapped atomically.
type routerBox struct{ Router }

// New starts a gateway: it loads or creates its identity and certificates
// and opens every listener of cfg (with defaults applied).
func New(ctx context.Context, cfg Config, opts Options) (g *Gateway, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gw := &Gateway{cfg: cfg, log: log, relays: newRelayTable(), bufs: newRelayBufs(), started: time.Now(), serveErr: make(chan error, 4), killed: make(chan struct{})}
	g = gw
	g.metrics = newMetrics(g)
	g.router.Store(&routerBox{newStaticRouter(cfg)})
	defer func() {
		if err != nil {
			gw.Close() // what was opened before the failure (g is nil by now)
		}
	}()
	if g.identity, err = LoadOrCreateIdentity(cfg.DataDir, cfg.Site, time.Now()); err != nil {
		return nil, err
	}
	g.policyLogs = newPolicyLogs()
	engineLog := slog.New(&captureHandler{inner: log.Handler(), logs: g.policyLogs}).With("component", "policy")
	if g.engine, err = wasm.New(ctx, wasm.Config{
		DataDir: cfg.DataDir, Logger: engineLog,
		CallTimeout: cfg.Policy.CallTimeout.Std(), MaxMemoryBytes: cfg.Policy.MaxMemory << 20,
	}); err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	g.policies = newPolicyRouter(g.engine, cfg)
	g.router.Store(&routerBox{g.policies})
	if g.certs, err = newCertManager(ctx, certOptions{
		dataDir: cfg.DataDir, site: cfg.Site, names: cfg.Links.Names,
		builtin: &BuiltinIssuer{Identity: g.identity}, acme: cfg.ACME,
		renewChk: cfg.ACME.RenewCheck.Std(),
	}, log); err != nil {
		return nil, err
	}
	if g.links, err = newLinks(cfg.Site, cfg.Peers, g.certs, log); err != nil {
		return nil, err
	}
	g.links.accept = g.serveStream
	g.links.onDial = g.metrics.dialed
	g.links.wg.Add(1)
	go g.links.janitor(cfg.Proxy.Idle.Std())
	if cfg.Remote.ClientCA != "" {
		if g.links.remotePool, err = loadPool(cfg.Remote.ClientCA, "remote.client_ca"); err != nil {
			return nil, err
		}
	}
	if err = g.links.listen(cfg.Links.QUIC, cfg.Links.TLS); err != nil {
		return nil, err
	}
	g.proxies = newProxyPorts(cfg.Proxy.Address, cfg.Proxy.Idle.Std(), g.links, g.relays, g.bufs, log)
	g.proxies.metrics = g.metrics
	if !cfg.EPMD.Disabled {
		if err = g.startEPMD(ctx); err != nil {
			return nil, err
		}
	}
	if err = g.startPublic(ctx); err != nil {
		return nil, err
	}
	if err = g.startRemote(); err != nil {
		return nil, err
	}
	// Peers' streams are served once everything they reach is in place.
	g.links.serve()
	if g.admin, err = newAdminServer(g); err != nil {
		return nil, err
	}
	log.Info("distgate running", "site", cfg.Site, "identity", g.identity.ID.String(), "epmd", addrString(g.epmdLn),
		"admin", g.admin.addr(), "public_epmd", addrString(g.publicLn), "remote", addrString(g.remoteLn), "quic", netAddrString(g.links.QUICAddr()), "tls", netAddrString(g.links.TLSAddr()), "data_dir", cfg.DataDir)
	return g, nil
}

func (g *Gateway) startEPMD(ctx context.Context) error {
	// No keep-alive probes, as the drop-in's listeners (epmd.Listen): a
	// lookup lives for one request, and they cost four setsockopt calls per
	// connection, 6% of a lookup's CPU.
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(ctx, "tcp", g.cfg.EPMD.Listen)
	if err != nil {
		return fmt.Errorf("epmd.listen: %w", err)
	}
	g.epmdLn = ln
	g.epmd = epmd.NewServer(epmd.Config{
		Port:      ln.Addr().(*net.TCPAddr).Port,
		Relaxed:   g.cfg.EPMD.Relaxed,
		HostNames: g.cfg.EPMD.Hosts,
		Resolver:  g,
		Logger:    g.log.With("component", "epmd"),
		// `epmd -kill` stops OTP's epmd; it stops the gateway, which is
		// this host's EPMD, rather than leave it running without one.
		OnKill: func() {
			g.log.Warn("the EPMD was told to stop (epmd -kill): the gateway stops")
			close(g.killed)
		},
	})
	go g.serve(func() error { return g.epmd.Serve(ln) })
	return nil
}

// serve runs a listener's loop and reports its failure on serveErr.
func (g *Gateway) serve(f func() error) {
	if err := f(); err != nil {
		select {
		case g.serveErr <- err:
		default:
		}
	}
}

// Err returns a channel that yields an error if a listener fails.
func (g *Gateway) Err() <-chan error { return g.serveErr }

// Killed is closed when a KILL request (epmd -kill) stopped the EPMD: the
// gateway should stop.
func (g *Gateway) Killed() <-chan struct{} { return g.killed }

// Identity returns the gateway's identity.
func (g *Gateway) Identity() *Identity { return g.identity }

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
func (g *Gateway) LinkAddrs() (quicAddr, tlsAddr net.Addr) {
	return g.links.QUICAddr(), g.links.TLSAddr()
}

// SetRouter replaces the routing policy; nil restores the uploaded
// policies (with the built-in one behind them).
func (g *Gateway) SetRouter(r Router) {
	if r == nil {
		r = g.policies
	}
	g.router.Store(&routerBox{r})
}

func (g *Gateway) routerNow() Router { return g.router.Load().Router }

// Close stops every listener and relay and waits for them. It is
// idempotent.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		if g.admin != nil {
			g.admin.close()
		}
		// The policies first: Close interrupts the calls in flight and
		// ends the waits for them, so that the lookups and relays waited
		// for below end at once, whatever the policies do.
		if g.engine != nil {
			g.engine.Close(context.Background())
		}
		if g.remoteLn != nil {
			g.remoteLn.Close()
		}
		if g.proxies != nil {
			g.proxies.close()
		}
		if g.publicEPMD != nil {
			g.publicEPMD.Close()
		}
		if g.term != nil {
			g.term.close()
		}
		if g.epmd != nil {
			g.epmd.Close()
		}
		if g.links != nil {
			g.links.close()
		}
		if g.proxies != nil {
			g.proxies.wait()
		}
		g.inbound.Wait()
		if g.certs != nil {
			g.certs.stop()
		}
	})
	return nil
}

// Resolve implements epmd.Resolver: it asks the router where a node leads
// and turns the route into endpoints; a remote node is answered with its
// loopback proxy port.
func (g *Gateway) Resolve(ctx context.Context, q epmd.Query) epmd.Answer {
	rt, ans := g.resolve(ctx, q)
	g.metrics.lookups.WithLabelValues(rt.String(), ans.Status.String()).Inc()
	return ans
}

func (g *Gateway) resolve(ctx context.Context, q epmd.Query) (RouteKind, epmd.Answer) {
	in := lookupInput(q)
	return g.answer(q, in.Node, g.routerNow().Lookup(ctx, in))
}

// lookupInput is the router's question for an EPMD query.
func lookupInput(q epmd.Query) LookupInput {
	node := q.Name
	if q.Host != "" {
		node += "@" + q.Host
	}
	return LookupInput{
		Node: node, Name: q.Name, Host: q.Host, LocalHost: q.LocalHost, Accept: q.Accept, Asker: q.Asker,
		Local: q.Local, Registered: q.Registered,
	}
}

// answer turns the route of a query into the EPMD's answer.
func (g *Gateway) answer(q epmd.Query, node string, rt Route) (RouteKind, epmd.Answer) {
	switch rt.Kind {
	case RouteLocal:
		eps := q.Local
		if len(rt.Endpoints) > 0 {
			eps = rt.Endpoints
		}
		if len(eps) == 0 {
			if !q.Registered {
				return rt.Kind, epmd.Answer{Status: epmd.StatusNotFound, Message: "no node " + q.Name + " is registered here"}
			}
			return rt.Kind, epmd.Answer{Status: epmd.StatusNotFound, Message: "node " + q.Name + " offers none of the accepted protocols"}
		}
		return rt.Kind, epmd.Answer{Status: epmd.StatusOK, Endpoints: eps}
	case RouteVia:
		if q.Host == "" {
			return rt.Kind, epmd.Answer{Status: epmd.StatusNotFound, Message: "a remote node is looked up by its full name"}
		}
		if _, ok := g.links.peers[rt.Site]; !ok {
			g.log.Error("lookup routed to a site that is not a configured peer", "node", node, "site", rt.Site)
			return rt.Kind, epmd.Answer{Status: epmd.StatusUnavailable, Message: "the route of " + node + " leads to site " + rt.Site + ", which is not a configured peer"}
		}
		if !q.LocalPeer {
			return rt.Kind, epmd.Answer{Status: epmd.StatusDenied, Message: "remote nodes are reached through loopback proxy ports: ask the gateway of your own host"}
		}
		if !acceptsTCP(q.Accept) {
			return rt.Kind, epmd.Answer{Status: epmd.StatusNotFound, Message: "node " + node + " is reached through a loopback TCP proxy port: accept inet_tcp"}
		}
		port, err := g.proxies.portFor(node, rt)
		if err != nil {
			g.log.Error("lookup", "node", node, "err", err)
			return rt.Kind, epmd.Answer{Status: epmd.StatusUnavailable, Message: err.Error()}
		}
		return rt.Kind, epmd.Answer{Status: epmd.StatusOK, Endpoints: []epmd.Endpoint{{
			Transport: epmd.Transport{Proto: "inet_tcp", Port: uint16(port), Family: epmd.FamilyInet,
				Addr: mustLoopback(g.cfg.Proxy.Address), HighVsn: 6, LowVsn: 6},
			NodeType: epmd.NodeTypeNormal,
		}}}
	case RouteDeny:
		g.log.Info("lookup denied", "node", node, "asker", q.Asker, "reason", rt.Reason)
		return rt.Kind, epmd.Answer{Status: epmd.StatusDenied, Message: rt.Reason}
	}
	return rt.Kind, epmd.Answer{Status: epmd.StatusNoRoute, Message: "host " + q.Host + " is not this host and no route leads there"}
}

func acceptsTCP(accept []string) bool {
	if len(accept) == 0 {
		return true
	}
	for _, p := range accept {
		if p == "inet_tcp" {
			return true
		}
	}
	return false
}

// deadliner is what link streams offer to bound the header read.
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// serveStream serves a stream a peer gateway (or a remote query client,
// with an empty site) opened.
func (g *Gateway) serveStream(ctx context.Context, site, identity, transport string, s io.ReadWriteCloser) {
	g.inbound.Add(1)
	defer g.inbound.Done()
	d, _ := s.(deadliner)
	if d != nil {
		d.SetReadDeadline(time.Now().Add(handshakeTimeout))
	}
	hdr, err := readStreamHeader(s)
	if err != nil {
		g.log.Warn("link stream refused", "peer", site, "err", err)
		s.Write(appendLinkReply(nil, linkBadRequest, err.Error()))
		abortConn(s)
		return
	}
	if d != nil {
		if hdr.Kind == kindEPMD {
			d.SetReadDeadline(time.Now().Add(remoteQueryTimeout)) // one query, then the end
		} else {
			d.SetReadDeadline(time.Time{})
		}
	}
	if site == "" && hdr.Kind != kindEPMD {
		s.Write(appendLinkReply(nil, linkDenied, "a client that is not a peer gateway may only query"))
		s.Close()
		return
	}
	switch hdr.Kind {
	case kindRelay:
		g.serveRelay(ctx, site, transport, s, hdr)
	case kindEPMD:
		s.Write(appendLinkReply(nil, linkOK, ""))
		a := asker{via: ViaLink, site: site, identity: identity, addr: transport}
		if site == "" {
			a.via = ViaRemote
		}
		if la, ok := s.(interface{ LocalAddr() net.Addr }); ok {
			if ap, err := netip.ParseAddrPort(la.LocalAddr().String()); err == nil {
				a.local = ap.Addr().Unmap()
			}
		}
		g.serveQuery(ctx, s, a)
		s.Close()
	default:
		s.Write(appendLinkReply(nil, linkBadRequest, fmt.Sprintf("stream kind %d is not served here", hdr.Kind)))
		s.Close()
	}
}

// serveRelay connects a peer's caller to a node of this site.
func (g *Gateway) serveRelay(ctx context.Context, site, transport string, s io.ReadWriteCloser, hdr streamHeader) {
	refuse := func(status byte, msg string) {
		g.metrics.relayed("in", transport, false)
		g.log.Warn("relay refused", "peer", site, "caller", hdr.Caller, "target", hdr.Target, "reason", msg)
		s.Write(appendLinkReply(nil, status, msg))
		s.Close()
	}
	if ok, reason := g.routerNow().Authorize(ctx, AuthInput{Action: ActionReach, Via: ViaLink, Site: site, Caller: hdr.Caller, Target: hdr.Target}); !ok {
		refuse(linkDenied, fmt.Sprintf("%s may not reach %s: %s", hdr.Caller, hdr.Target, reason))
		return
	}
	name, host := epmd.SplitNode(hdr.Target)
	addr, err := g.localTarget(name, host)
	if err != nil {
		refuse(linkNotFound, err.Error())
		return
	}
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		refuse(linkUnreachable, fmt.Sprintf("%s does not accept connections: %v", hdr.Target, err))
		return
	}
	if _, err := s.Write(appendLinkReply(nil, linkOK, "")); err != nil {
		c.Close()
		abortConn(s)
		return
	}
	applyLiveness(s, hdr.Liveness)
	ri := g.relays.add(hdr.Caller, hdr.Target, site, transport, "in")
	defer g.relays.remove(ri)
	defer g.metrics.relayDone(ri)
	g.metrics.relayed("in", transport, true)
	var local io.ReadWriteCloser = c.(*net.TCPConn)
	if hdr.Tick > 0 {
		local = newTicker(c.(*net.TCPConn), hdr.Tick, false)
	}
	g.log.Debug("relay started", "caller", hdr.Caller, "target", hdr.Target, "peer", site, "transport", transport)
	if err := relay(local, s, g.bufs, &ri.Stats); err != nil {
		g.log.Info("relay ended", "caller", hdr.Caller, "target", hdr.Target, "err", err)
	}
}

// localTarget finds where a node of this site listens for TCP
// distribution.
func (g *Gateway) localTarget(name, host string) (string, error) {
	addr, isTLS, err := g.backendOf(name)
	switch {
	case err != nil:
		return "", err
	case !g.servesHost(name, host):
		return "", fmt.Errorf("host %s is not served by site %s", host, g.cfg.Site)
	case isTLS:
		return "", fmt.Errorf("node %s listens for no TCP distribution", name)
	}
	return addr, nil
}

// servesHost reports whether host names this gateway's host for a node:
// empty, one of the EPMD's host names or addresses, or the host the node
// registered with.
func (g *Gateway) servesHost(name, host string) bool {
	if host == "" || g.epmd.IsLocalHost(host) {
		return true
	}
	var h string
	g.epmd.Registry(func(r *epmd.Registry) { h = r.Host(name) })
	return h != "" && strings.EqualFold(h, host)
}

// mustLoopback parses the proxy address (validated as a loopback IP).
func mustLoopback(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return a
}

func addrString(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

func netAddrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
