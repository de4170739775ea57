// Package terminate serves the public TLS ports of exported nodes: one
// port per node, opened when the public EPMD or a remote query gives it
// out. A node running OTP's inet_tls_dist dials it (SNI: the host part of
// the node name); the gateway terminates TLS, checks the client
// certificate when configured, asks the policy, and relays to the node: to
// its TCP port with the handshake framing rewritten (4-byte lengths in TLS
// distribution, 2 in TCP distribution until the challenge-ack), or
// unchanged to its TLS port.
package terminate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/mholt/acmez/v3"

	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/handshake"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/ports"
	"github.com/distgate/distgate/gateway/relay"
)

// Transport is the relays' transport, in the status and the metrics.
const Transport = "tls-terminated"

// Caller is a TLS caller that asks to reach a node.
type Caller struct {
	Node     string // the caller's node name, from its send_name
	Target   string // the node it reaches, by its canonical full name (Backends.Target)
	Identity string // its client certificate's identity; "" without one
	// Chain is its client certificate chain as presented, leaf first,
	// which ClientCAs verified; nil without one.
	Chain []*x509.Certificate
	Addr  netip.AddrPort // where it called from
}

// Policy decides who may reach which node.
type Policy interface {
	// Reach reports whether c may reach its target; reason says why not.
	Reach(ctx context.Context, c Caller) (ok bool, reason string)
}

// Backends find the nodes of this host.
type Backends interface {
	// Backend returns where a node listens: its plain TCP port when it
	// has one, else its TLS port (isTLS).
	Backend(name string) (addr string, isTLS bool, err error)
	// Target returns the full name, in its one canonical form, of the
	// node a caller reaches by name at the TLS server name serverName
	// ("" when the caller sent none); it fails when this host does not
	// serve that name.
	Target(name, serverName string) (string, error)
}

// Certificates presents this gateway's certificates (a *pki.Manager).
type Certificates interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error)
}

// Config is what the TLS ports use.
type Config struct {
	// Ports are the pool's settings: the IP, how many, when idle, the
	// admission of callers before the handshake, the logger. Its Name is
	// the terminator's.
	Ports            ports.Config
	HandshakeTimeout time.Duration  // for the TLS handshake and the send_name; and to dial the node
	ClientCAs        *x509.CertPool // with it, a client certificate it signs is required
	Certs            Certificates
	Policy           Policy
	Backends         Backends
	Relays           *relay.Table
	Bufs             *relay.Bufs
}

// Ports are the TLS termination ports.
type Ports struct {
	cfg      Config
	log      *slog.Logger
	refusals *admit.Log // callers refused before or at the handshake
	tlsConf  *tls.Config
	pool     *ports.Pool[struct{}]
}

// New starts the TLS ports (none is open until one is given out).
func New(cfg Config) *Ports {
	t := &Ports{cfg: cfg, log: cfg.Ports.Logger}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.tlsConf = &tls.Config{
		// OTP 25's inet_tls_dist speaks TLS 1.2 by default, and 1.3.
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cfg.Certs.GetCertificate,
		NextProtos:     []string{acmez.ACMETLS1Protocol},
	}
	if cfg.ClientCAs != nil {
		pki.RequireClientCert(t.tlsConf, cfg.ClientCAs)
	}
	t.refusals = admit.NewLog(t.log, "TLS port: caller refused")
	pc := cfg.Ports
	pc.Name, pc.Logger, pc.Refusals = "TLS port", t.log, t.refusals
	t.pool = ports.New(pc, t.handle)
	return t
}

// Addr returns the IP the ports open on.
func (t *Ports) Addr() netip.Addr { return t.pool.Addr() }

// Port returns the TLS port of a node of this host, opening it on first
// use.
func (t *Ports) Port(name string) (int, error) { return t.pool.Open(name, struct{}{}, ports.Owner{}) }

// Close closes the ports, ends the relays of TLS callers and waits for
// them: a distribution connection lasts for ever otherwise.
func (t *Ports) Close() {
	t.pool.Close()
	t.refusals.Close()
}

func (t *Ports) handle(ctx context.Context, tp *ports.Port[struct{}], raw net.Conn) {
	name, peer := tp.Key(), raw.RemoteAddr().String()
	tc := tls.Server(raw, t.tlsConf)
	raw.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		t.refusals.Refused(addrOf(raw), "TLS handshake", "node", name, "err", err)
		raw.Close()
		return
	}
	cs := tc.ConnectionState()
	if pki.IsACMEValidation(cs) {
		tc.Close() // an ACME validation: answered by the handshake
		return
	}
	// The policy decides on the node's one name, whatever name of this
	// host the caller gave; a name this host does not serve is refused.
	target, err := t.cfg.Backends.Target(name, cs.ServerName)
	if err != nil {
		t.cfg.Relays.Refused(relay.Refusal{Target: name, Site: "public", Transport: Transport, Direction: relay.In,
			Reason: events.TargetUnknown, Detail: err.Error()})
		t.refusals.Refused(addrOf(raw), "server name not served", "node", name, "server_name", cs.ServerName, "err", err)
		tc.Close()
		return
	}
	frame, body, err := handshake.ReadFrame(tc, 4, handshake.MaxSendName)
	if err != nil {
		t.refusals.Refused(addrOf(raw), "no send_name", "node", name, "err", err)
		tc.Close()
		return
	}
	sn, err := handshake.ParseSendName(body)
	if err != nil {
		t.refusals.Refused(addrOf(raw), "bad send_name", "node", name, "err", err)
		tc.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	ports.Established(raw) // its request is in: no longer evicted to make room
	c := Caller{Node: sn.Name, Target: target}
	if len(cs.PeerCertificates) > 0 {
		c.Identity, c.Chain = pki.CertIdentity(cs.PeerCertificates[0]), cs.PeerCertificates
	}
	if ta, ok := raw.RemoteAddr().(*net.TCPAddr); ok {
		c.Addr = ta.AddrPort()
	}
	refuse := func(why events.Reason, reason string) {
		t.cfg.Relays.Refused(relay.Refusal{Caller: c.Node, Target: c.Target, Site: "public", Transport: Transport, Direction: relay.In, Reason: why, Detail: reason})
		t.log.Warn("TLS caller refused", "caller", c.Node, "target", c.Target, "identity", c.Identity, "peer", peer, "reason", reason)
		tc.Close()
	}
	if ok, reason := t.cfg.Policy.Reach(ctx, c); !ok {
		refuse(events.PolicyDenied, reason)
		return
	}
	backend, tlsBackend, err := t.cfg.Backends.Backend(name)
	if err != nil {
		refuse(events.TargetUnknown, err.Error())
		return
	}
	b, err := t.dial(ctx, backend, tlsBackend)
	if err != nil {
		refuse(events.TargetUnreachable, fmt.Sprintf("%s does not accept connections: %v", name, err))
		return
	}
	tp.MarkConnected()
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
			refuse(events.TargetUnreachable, err.Error())
			b.Close()
			return
		}
		caller = relay.Reframe(caller, up)
		b = relay.Reframe(b, handshake.NewReframer(2, 4, 'a'))
	}
	ri := t.cfg.Relays.Add(c.Node, c.Target, "public", Transport, relay.In, "")
	defer t.cfg.Relays.Remove(ri)
	// Distribution connections last for ever: the gateway's shutdown ends
	// them.
	stop := context.AfterFunc(ctx, func() { caller.Abort(); b.Abort() })
	defer stop()
	t.log.Debug("TLS relay started", "caller", c.Node, "target", c.Target, "identity", c.Identity, "backend", backend)
	// The local node is a, as in every relay: AToB counts bytes from it.
	relay.Run(b, caller, t.cfg.Bufs, &ri.Stats) // its end is an event
}

// addrOf returns the IP a connection comes from.
func addrOf(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// dial connects to a node of this host: over TLS, presenting the site's
// certificate, to a node that listens only for TLS distribution.
func (t *Ports) dial(ctx context.Context, addr string, isTLS bool) (relay.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	if isTLS {
		d := &tls.Dialer{Config: &tls.Config{
			InsecureSkipVerify: true, // a node of this host, on loopback
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return t.cfg.Certs.GetClientCertificate(nil)
			},
		}}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return relay.Conn(c.(*tls.Conn)), nil
	}
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return relay.Conn(c.(*net.TCPConn)), nil
}
