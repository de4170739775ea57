package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/gateway/admit"

	"github.com/distgate/distgate/gateway/pki"

	"github.com/mholt/acmez/v3"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/handshake"
	"github.com/distgate/distgate/gateway/relay"
)

// terminator opens a public TLS port per exported node. A node running
// OTP's inet_tls_dist dials it (SNI: the host part of the node name); the
// gateway terminates TLS, checks the client certificate when configured,
// asks the policy, and relays to the node: to its TCP port with the
// handshake framing rewritten (4-byte lengths in TLS distribution, 2 in
// TCP distribution until the challenge-ack), or unchanged to its TLS port.
type terminator struct {
	g       *Gateway
	addr    string
	tlsConf *tls.Config
	log     *slog.Logger
	limit   *admit.Limiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards ports
	ports map[string]*termPort
}

type termPort struct {
	name     string
	ln       net.Listener
	port     int
	active   atomic.Int64
	lastUsed atomic.Int64
}

func newTerminator(g *Gateway, addr, clientCA string, limit *admit.Limiter) (*terminator, error) {
	t := &terminator{g: g, addr: addr, log: g.log.With("component", "terminate"), ports: map[string]*termPort{}, limit: limit}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	var pool *x509.CertPool
	if clientCA != "" {
		var err error
		if pool, err = pki.LoadPool(clientCA, "public.client_ca"); err != nil {
			return nil, err
		}
	}
	t.tlsConf = &tls.Config{
		// OTP 25's inet_tls_dist speaks TLS 1.2 by default, and 1.3.
		MinVersion:     tls.VersionTLS12,
		GetCertificate: g.certs.GetCertificate,
		NextProtos:     []string{acmez.ACMETLS1Protocol},
	}
	if pool != nil {
		pki.RequireClientCert(t.tlsConf, pool)
	}
	t.wg.Add(1)
	go t.janitor()
	return t, nil
}

// portFor returns the TLS port of a node, opening it on first use.
func (t *terminator) portFor(name string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return 0, errors.New("gateway is shutting down")
	}
	if tp, ok := t.ports[name]; ok {
		tp.lastUsed.Store(time.Now().UnixNano())
		return tp.port, nil
	}
	if len(t.ports) >= MaxTerminationPorts {
		return 0, fmt.Errorf("TLS port for %s: %d TLS ports are open, the most there may be", name, MaxTerminationPorts)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(t.addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("TLS port for %s: %w", name, err)
	}
	tp := &termPort{name: name, ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	tp.lastUsed.Store(time.Now().UnixNano())
	t.ports[name] = tp
	t.log.Info("TLS port opened", "node", name, "port", tp.port)
	t.wg.Add(1)
	go t.serve(tp)
	return tp.port, nil
}

func (t *terminator) serve(tp *termPort) {
	defer t.wg.Done()
	for {
		c, err := tp.ln.Accept()
		if err != nil {
			return
		}
		peer := netip.Addr{}
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			peer = ta.AddrPort().Addr()
		}
		if ok, reason := t.limit.Admit(peer, time.Now()); !ok {
			t.log.Warn("TLS caller refused before the handshake", "peer", c.RemoteAddr().String(), "reason", reason)
			c.Close()
			continue
		}
		tp.active.Add(1)
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.limit.Done(peer)
			defer func() { tp.active.Add(-1); tp.lastUsed.Store(time.Now().UnixNano()) }()
			t.handle(tp, c)
		}()
	}
}

func (t *terminator) handle(tp *termPort, raw net.Conn) {
	peer := raw.RemoteAddr().String()
	tc := tls.Server(raw, t.tlsConf)
	raw.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(t.ctx); err != nil {
		t.log.Warn("TLS handshake refused", "node", tp.name, "peer", peer, "err", err)
		raw.Close()
		return
	}
	cs := tc.ConnectionState()
	if pki.IsACMEValidation(cs) {
		tc.Close() // an ACME validation: answered by the handshake
		return
	}
	frame, body, err := handshake.ReadFrame(tc, 4, handshake.MaxSendName)
	if err != nil {
		t.log.Warn("no send_name from a TLS caller", "node", tp.name, "peer", peer, "err", err)
		tc.Close()
		return
	}
	sn, err := handshake.ParseSendName(body)
	if err != nil {
		t.log.Warn("bad send_name from a TLS caller", "node", tp.name, "peer", peer, "err", err)
		tc.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	target := tp.name
	if cs.ServerName != "" {
		target += "@" + cs.ServerName
	}
	var identity string
	if len(cs.PeerCertificates) > 0 {
		identity = pki.CertIdentity(cs.PeerCertificates[0])
	}
	refuse := func(reason string) {
		t.g.relays.Refused(relay.In, "tls-terminated")
		t.log.Warn("TLS caller refused", "caller", sn.Name, "target", target, "identity", identity, "peer", peer, "reason", reason)
		tc.Close()
	}
	if ok, reason := t.g.routerNow().Authorize(t.ctx, AuthInput{
		Action: ActionReach, Via: ViaPublic, Identity: identity, Caller: sn.Name, Target: target, Addr: peer,
	}); !ok {
		refuse(reason)
		return
	}
	backend, tlsBackend, err := t.g.backendOf(tp.name)
	if err != nil {
		refuse(err.Error())
		return
	}
	dctx, cancel := context.WithTimeout(t.ctx, handshakeTimeout)
	var b relay.Stream
	if tlsBackend {
		d := &tls.Dialer{Config: &tls.Config{
			InsecureSkipVerify: true, // a node of this host, on loopback
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return t.g.certs.GetClientCertificate(nil)
			},
		}}
		var c net.Conn
		c, err = d.DialContext(dctx, "tcp", backend)
		if err == nil {
			b = relay.Conn(c.(*tls.Conn))
		}
	} else {
		var c net.Conn
		c, err = (&net.Dialer{}).DialContext(dctx, "tcp", backend)
		if err == nil {
			b = relay.Conn(c.(*net.TCPConn))
		}
	}
	cancel()
	if err != nil {
		refuse(fmt.Sprintf("%s does not accept connections: %v", tp.name, err))
		return
	}
	caller := relay.Conn(tc)
	if tlsBackend {
		if _, err := b.Write(frame); err != nil {
			b.Close()
			tc.Close()
			return
		}
	} else {
		// The send_name already read goes first, reframed; then both
		// directions are reframed until their last handshake message.
		up := handshake.NewReframer(4, 2, 'r')
		out, err := up.Feed(nil, frame)
		if err == nil {
			_, err = b.Write(out)
		}
		if err != nil {
			refuse(err.Error())
			b.Close()
			return
		}
		caller = relay.Reframe(caller, up)
		b = relay.Reframe(b, handshake.NewReframer(2, 4, 'a'))
	}
	ri := t.g.relays.Add(sn.Name, target, "public", "tls-terminated", relay.In)
	defer t.g.relays.Remove(ri)
	// Distribution connections last for ever: the gateway's shutdown ends
	// them.
	stop := context.AfterFunc(t.ctx, func() { caller.Abort(); b.Abort() })
	defer stop()
	t.log.Debug("TLS relay started", "caller", sn.Name, "target", target, "identity", identity, "backend", backend)
	// The local node is a, as in every relay: AToB counts bytes from it.
	if err := relay.Run(b, caller, t.g.bufs, &ri.Stats); err != nil {
		t.log.Info("TLS relay ended", "caller", sn.Name, "target", target, "err", err)
	}
}

// janitor closes TLS ports that have been idle for the proxy idle time.
func (t *terminator) janitor() {
	defer t.wg.Done()
	idle := t.g.cfg.Proxy.Idle.Std()
	tick := time.NewTicker(max(idle/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		cutoff := time.Now().Add(-idle).UnixNano()
		t.mu.Lock()
		for name, tp := range t.ports {
			if tp.active.Load() == 0 && tp.lastUsed.Load() < cutoff {
				tp.ln.Close()
				delete(t.ports, name)
			}
		}
		t.mu.Unlock()
	}
}

func (t *terminator) close() {
	t.cancel()
	t.mu.Lock()
	for _, tp := range t.ports {
		tp.ln.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// backendOf finds how to reach a node of this host: its plain TCP port
// when it has one, else its TLS port.
func (g *Gateway) backendOf(name string) (addr string, isTLS bool, err error) {
	if g.epmd == nil {
		return "", false, errors.New("this gateway runs no EPMD")
	}
	var tcp, tlsEps []epmd.Endpoint
	var registered bool
	g.epmd.Registry(func(r *epmd.Registry) {
		tcp, registered = r.Lookup(name, []string{"inet_tcp", "inet6_tcp"})
		tlsEps, _ = r.Lookup(name, []string{"inet_tls", "inet6_tls"})
	})
	switch {
	case !registered:
		return "", false, fmt.Errorf("no node %s is registered at site %s", name, g.cfg.Site)
	case len(tcp) > 0:
		return g.endpointAddr(tcp[0]), false, nil
	case len(tlsEps) > 0:
		return g.endpointAddr(tlsEps[0]), true, nil
	}
	return "", false, fmt.Errorf("node %s listens for no TCP or TLS distribution", name)
}

// endpointAddr is where the gateway connects to a node of this host: the
// address the node registered when it is one of this host's, else
// loopback. A registration cannot send the gateway, and the identity it
// presents, to another host.
func (g *Gateway) endpointAddr(ep epmd.Endpoint) string {
	ip := "127.0.0.1"
	if ep.Family == epmd.FamilyInet6 {
		ip = "::1"
	}
	if ep.Addr.IsValid() && !ep.Addr.IsUnspecified() && g.epmd.IsLocalAddr(ep.Addr) {
		ip = ep.Addr.String()
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(ep.Port)))
}
