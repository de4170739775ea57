package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/pki"
)

// Validate checks the configuration; every problem is named with its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Site != "" && !validName(c.Site) {
		bad("site", "%q: use letters, digits, '.', '-' and '_'", c.Site)
	}
	// Every address is checked here, with the rest of the file, rather
	// than when it is listened on or dialled, after keys and certificates
	// are made.
	checkAddr := func(key, network, addr string, dial bool) {
		if addr == "" {
			return
		}
		if err := checkHostPort(network, addr, dial); err != nil {
			bad(key, "%v", err)
		}
	}
	checkAddr("epmd.listen", "tcp", c.EPMD.Listen, false)
	checkAddr("links.quic", "udp", c.Links.QUIC, false)
	checkAddr("links.tls", "tcp", c.Links.TLS, false)
	checkAddr("public.epmd", "tcp", c.Public.EPMD, false)
	checkAddr("remote.listen", "tcp", c.Remote.Listen, false)
	checkAddr("acme.http_address", "tcp", c.ACME.HTTPAddress, false)
	if p := c.ACME.TLSALPNPort; p < 0 || p > 65535 {
		bad("acme.tls_alpn_port", "%d: want a port from 1 to 65535", p)
	}
	if a := c.Public.Address; a != "" {
		if _, err := netip.ParseAddr(a); err != nil {
			bad("public.address", "%q is not an IP address", a)
		}
	}
	for i, p := range c.Public.Export {
		if _, err := path.Match(p, ""); err != nil {
			bad(fmt.Sprintf("public.export[%d]", i), "%q: %v", p, err)
		}
	}
	if c.Public.Rate < 0 || c.Public.Burst < 0 {
		bad("public.rate", "rate and burst cannot be negative")
	}
	if ch := c.ACME.Challenge; ch != "" && ch != challengeTLSALPN && ch != challengeHTTP {
		bad("acme.challenge", "%q: want tls-alpn-01 or http-01", ch)
	}
	if c.ACME.Challenge == challengeHTTP && len(c.ACME.Names) > 0 && c.ACME.HTTPAddress == "" {
		bad("acme.http_address", "http-01 needs an address to answer on (\":80\")")
	}
	for i, n := range c.ACME.Names {
		if !validName(n) || !strings.Contains(n, ".") {
			bad(fmt.Sprintf("acme.names[%d]", i), "%q is not a DNS name", n)
		}
	}
	if c.Remote.Listen != "" && c.Remote.ClientCA == "" && len(c.Peers) == 0 {
		bad("remote.client_ca", "remote queries need client certificates: give the CA that signs them")
	}
	if a := c.Admin.Listen; a != "" && !strings.HasPrefix(a, "unix:") {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			bad("admin.listen", "%q is not host:port or unix:/path: %v", a, err)
		} else if err := checkHostPort("tcp", a, false); err != nil {
			bad("admin.listen", "%v", err)
		} else if ip, err := netip.ParseAddr(host); (err != nil && host != "localhost") || (err == nil && !ip.IsLoopback()) {
			bad("admin.listen", "%q: the admin API listens on loopback only (or a unix: socket)", a)
		}
	}
	if a := c.Admin.Probes; a != "" {
		if err := checkHostPort("tcp", a, false); err != nil {
			bad("admin.probes", "%v", err)
		}
	}
	if n := c.Admin.NodeMetrics; n < 0 || n > maxNodeMetrics {
		bad("admin.node_metrics", "%d: want 0 (off) to %d node names", n, maxNodeMetrics)
	}
	if a := c.Proxy.Address; a != "" {
		if ip, err := netip.ParseAddr(a); err != nil || !ip.IsLoopback() {
			bad("proxy.address", "%q: proxy ports open on a loopback address", a)
		}
	}
	if c.Policy.MaxMemory < 0 || c.Policy.MaxMemory > 4096 {
		bad("policy.max_memory_mib", "%d: want 1..4096", c.Policy.MaxMemory)
	}
	if f := c.Policy.OnFailure; f != "" && f != onFailureDeny && f != onFailureDefault {
		bad("policy.on_failure", "%q: want deny or default", f)
	}
	if f := c.Policy.FilterOnFailure; f != "" && f != filterFailDeny && f != filterFailClose {
		bad("policy.filter_on_failure", "%q: want deny or close", f)
	}
	sites := map[string]bool{}
	for i, p := range c.Peers {
		key := fmt.Sprintf("peers[%d]", i)
		switch {
		case !validName(p.Site):
			bad(key+".site", "%q: a site name is required (letters, digits, '.', '-', '_')", p.Site)
		case sites[p.Site]:
			bad(key+".site", "%q appears twice", p.Site)
		case p.Site == c.Site || p.Site == routeSiteLocal:
			bad(key+".site", "%q is this gateway's own site", p.Site)
		}
		sites[p.Site] = true
		if len(p.QUIC) == 0 && len(p.TLS) == 0 {
			bad(key, "give the peer's quic or tls address")
		}
		for j, a := range p.QUIC {
			checkAddr(listKey(key+".quic", j, len(p.QUIC)), "udp", a, true)
		}
		for j, a := range p.TLS {
			checkAddr(listKey(key+".tls", j, len(p.TLS)), "tcp", a, true)
		}
		if p.Identity == "" && p.CA == "" {
			bad(key, "give the peer's identity (distgate id) or a ca bundle to trust")
		}
		if p.Identity != "" {
			if _, err := pki.ParseIdentity(p.Identity); err != nil {
				bad(key+".identity", "%v", err)
			}
		}
	}
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if r.Match == "" {
			bad(key+".match", "a pattern is required")
		} else if _, err := path.Match(r.Match, ""); err != nil {
			bad(key+".match", "%q: %v", r.Match, err)
		}
		switch {
		case r.Deny != "" && r.Site != "":
			bad(key, "a route either denies or leads to a site, not both")
		case r.Via != "" && (r.Site == "" || r.Site == routeSiteLocal || r.Deny != ""):
			bad(key+".via", "a route via a transit site names the site it leads to")
		case r.Via != "" && !sites[r.Via] && c.Role != roleAgent:
			bad(key+".via", "%q is not a configured peer", r.Via)
		case r.Via == "" && r.Site != "" && r.Site != routeSiteLocal && !sites[r.Site] && c.Role != roleAgent:
			bad(key+".site", "%q is not a configured peer", r.Site)
		}
		if _, err := link.ParseTransport(r.Transport); err != nil {
			bad(key+".transport", "%q: want quic or tls", r.Transport)
		}
	}
	c.validateCluster(bad)
	return errors.Join(errs...)
}

// listKey names the j-th of n values of a key that takes one or a list.
func listKey(key string, j, n int) string {
	if n == 1 {
		return key
	}
	return fmt.Sprintf("%s[%d]", key, j)
}

// validateCluster checks the role and the cluster section.
func (c Config) validateCluster(bad func(key, format string, args ...any)) {
	switch c.Role {
	case "", roleStandalone:
		if len(c.Cluster.Endpoints) > 0 {
			bad("cluster", "a standalone gateway has no site directory: set role to agent or edge")
		}
		return
	case roleAgent, roleEdge:
	default:
		bad("role", "%q: want standalone, agent or edge", c.Role)
		return
	}
	if len(c.Cluster.Endpoints) == 0 {
		bad("cluster.endpoints", "an %s needs the site directory: give etcd's client URLs", c.Role)
	}
	for i, e := range c.Cluster.Endpoints {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fmt.Sprintf("cluster.endpoints[%d]", i), "%q: want http://host:port or https://host:port", e)
		}
	}
	if (c.Cluster.Cert == "") != (c.Cluster.Key == "") {
		bad("cluster.cert", "give both the client certificate and its key")
	}
	if c.Cluster.Prefix != "" && (!strings.HasPrefix(c.Cluster.Prefix, "/") || !strings.HasSuffix(c.Cluster.Prefix, "/")) {
		bad("cluster.prefix", "%q: want a prefix that starts and ends with /", c.Cluster.Prefix)
	}
	if ttl := c.Cluster.LeaseTTL.Std(); ttl != 0 && (ttl < 2*time.Second || ttl > time.Hour) {
		bad("cluster.lease_ttl", "%s: want 2s to 1h", ttl)
	}
	if m := c.Cluster.Member; m != "" && (!validName(m) || strings.Contains(m, "/")) {
		bad("cluster.member", "%q: use letters, digits, '.', '-' and '_'", m)
	}
	if a := c.Cluster.Address; a != "" {
		if ip, err := netip.ParseAddr(a); err != nil || ip.IsUnspecified() {
			bad("cluster.address", "%q is not an IP address of this host", a)
		}
	}
	if c.Site == "" {
		bad("site", "an %s needs its site's name", c.Role)
	}
	if c.Role == roleEdge && (c.Public.EPMD != "" || c.Public.Address != "") {
		bad("public", "an edge runs no EPMD (its site's agents do): the public EPMD and TLS termination run on a standalone gateway")
	}
	if c.Role == roleAgent && len(c.Peers) > 0 {
		bad("peers", "an agent reaches other sites through its site's edges: peers are the edges' to configure")
	}
}

// checkHostPort checks an address to listen on or, with dial, to dial: a
// port from 0 to 65535 (1 to 65535 to dial) or a service name the system
// knows, and a host that is an IP address or a DNS name (or empty, for
// every address, when listening).
func checkHostPort(network, addr string, dial bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", addr, err)
	}
	n, err := net.LookupPort(network, port)
	switch {
	case err != nil:
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535, nor a known service name", addr, port)
	case dial && n == 0:
		return fmt.Errorf("%q: port 0 cannot be dialled", addr)
	}
	if host == "" {
		if dial {
			return fmt.Errorf("%q: give the host to dial", addr)
		}
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if strings.Trim(host, "0123456789.") == "" || strings.Contains(host, ":") {
		return fmt.Errorf("%q: %q is not an IP address", addr, host)
	}
	if !validName(host) || strings.HasPrefix(host, "-") || strings.Contains(host, "..") {
		return fmt.Errorf("%q: %q is neither an IP address nor a DNS name", addr, host)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
