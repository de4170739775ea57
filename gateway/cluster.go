package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/pki"
)

// A site of many hosts: agents (one per host, its EPMD) and edges (links to
// other sites, connections to any host of the site) share the site
// directory on etcd (gateway/directory). This file joins it to the
// gateway's parts: the member record, the trust of the site's members,
// the EPMD's claims, the agent's edges and the edge's load.

// newDirectory connects to the site directory as this gateway's member.
func newDirectory(cfg Config, id *pki.Identity, onPolicies func(), log *slog.Logger) (*directory.Directory, error) {
	cc := cfg.Cluster
	var tlsConf *tls.Config
	if cc.CA != "" || cc.Cert != "" {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
		if cc.CA != "" {
			pool, err := pki.LoadPool(cc.CA, "cluster.ca")
			if err != nil {
				return nil, err
			}
			tlsConf.RootCAs = pool
		}
		if cc.Cert != "" {
			pair, err := tls.LoadX509KeyPair(cc.Cert, cc.Key)
			if err != nil {
				return nil, fmt.Errorf("cluster.cert: %w", err)
			}
			tlsConf.Certificates = []tls.Certificate{pair}
		}
	}
	addr, err := siteAddress(cc.Address)
	if err != nil {
		return nil, err
	}
	self := directory.Member{
		ID: cc.Member, Role: directory.Role(cfg.Role), Host: thisHost(cfg.EPMD),
		Addrs: []netip.Addr{addr}, Identity: id.ID.String(), Started: time.Now().UTC(),
	}
	if self.ID == "" {
		var b [4]byte
		rand.Read(b[:])
		self.ID = self.Host + "." + hex.EncodeToString(b[:])
	}
	if cfg.Role == roleEdge {
		self.QUIC = advertise(cfg.Links.QUIC, addr)
		self.TLS = advertise(cfg.Links.TLS, addr)
	}
	return directory.New(directory.Config{
		Endpoints: cc.Endpoints, TLS: tlsConf, Prefix: cc.Prefix, Site: cfg.Site, TTL: cc.LeaseTTL.Std(),
		Self: self, OnPolicies: onPolicies, Logger: log.With("component", "directory"),
	})
}

// thisHost is the host name of this host's nodes: the first of epmd.hosts,
// else the system's (what the EPMD's HostName says).
func thisHost(c EPMDConfig) string {
	if len(c.Hosts) > 0 {
		return c.Hosts[0]
	}
	h, _ := os.Hostname()
	return h
}

// siteAddress is this host's address on the site network: the one
// configured, else the first global unicast address of an interface.
func siteAddress(configured string) (netip.Addr, error) {
	if configured != "" {
		return netip.ParseAddr(configured) // validated
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cluster.address: %w", err)
	}
	var v6 netip.Addr
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || !p.Addr().IsGlobalUnicast() {
			continue
		}
		if p.Addr().Is4() {
			return p.Addr(), nil
		}
		if !v6.IsValid() {
			v6 = p.Addr()
		}
	}
	if v6.IsValid() {
		return v6, nil
	}
	return netip.Addr{}, fmt.Errorf("cluster.address: this host has no address on a network; give one")
}

// advertise is where the site's agents dial a link listener: its port at
// the host's site address when it listens on every address.
func advertise(listen string, addr netip.Addr) string {
	if listen == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		return net.JoinHostPort(addr.String(), port)
	}
	return listen
}

// siteMembers implements pki.Members with the directory.
type siteMembers struct{ dir *directory.Directory }

func (m siteMembers) Member(id pki.IdentityID) (edge, ok bool) {
	var role directory.Role
	m.dir.View(func(s *directory.State) { role, ok = s.HasIdentity(id.String()) })
	return role == directory.RoleEdge, ok
}

// siteEdges returns where the site's edges listen for links, the least
// loaded first (link.Config.SiteEdges).
func siteEdges(dir *directory.Directory) func() (quic, tls []string) {
	return func() (quic, tls []string) {
		for _, e := range dir.Edges() {
			if e.QUIC != "" {
				quic = append(quic, e.QUIC)
			}
			if e.TLS != "" {
				tls = append(tls, e.TLS)
			}
		}
		return quic, tls
	}
}

// claims implements epmd.Claims: an agent's registrations are claimed in
// the site directory, under the host's name for those registered without
// one.
type claims struct {
	dir  *directory.Directory
	host string
}

func (c claims) node(n epmd.NodeInfo) directory.Node {
	host := n.Host
	if host == "" {
		host = c.host
	}
	return directory.NodeOf(n.Name, host, n.NodeType, n.Creation, n.Transports)
}

func (c claims) Claim(n epmd.NodeInfo) error {
	return c.dir.Claim(context.Background(), c.node(n))
}

func (c claims) Update(n epmd.NodeInfo) { c.dir.Update(c.node(n)) }

func (c claims) Release(name string, creation uint32) { c.dir.Release(name, creation) }

// publishLoad publishes an edge's relay count while the gateway runs.
func (g *Gateway) publishLoad(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(loadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.dir.SetLoad(g.relays.Len())
		}
	}
}
