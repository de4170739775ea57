package gateway

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/directory"
)

// nodes are the nodes of this host, as the gateway's parts see them: the
// registry of its EPMD. With the EPMD disabled (nil), there are none.
type nodes struct {
	site string // for errors
	epmd *epmd.Server
	// dir is the site directory of an agent or an edge: the nodes of the
	// site's other hosts; nil for a standalone gateway.
	dir *directory.Directory
	// certNames are the names the gateway has certificates for
	// (links.names, acme.names), lower case: TLS callers may give them as
	// server names for any node of this host.
	certNames map[string]bool
}

// errNoEPMD is returned when a node of this host is asked for and the
// gateway runs no EPMD.
var errNoEPMD = errors.New("this gateway runs no EPMD")

// Backend implements terminate.Backends: how to reach a node of this
// host, its plain TCP port when it has one, else its TLS port.
func (n *nodes) Backend(name string) (addr string, isTLS bool, err error) {
	if n.epmd == nil {
		return "", false, errNoEPMD
	}
	var tcp, tlsEps []epmd.Endpoint
	var registered bool
	n.epmd.Registry(func(r *epmd.Registry) {
		tcp, registered = r.Lookup(name, []string{"inet_tcp", "inet6_tcp"})
		tlsEps, _ = r.Lookup(name, []string{"inet_tls", "inet6_tls"})
	})
	switch {
	case !registered:
		return "", false, fmt.Errorf("no node %s is registered at site %s", name, n.site)
	case len(tcp) > 0:
		return n.endpointAddr(tcp[0]), false, nil
	case len(tlsEps) > 0:
		return n.endpointAddr(tlsEps[0]), true, nil
	}
	return "", false, fmt.Errorf("node %s listens for no TCP or TLS distribution", name)
}

// endpointAddr is where the gateway connects to a node of this host: the
// address the node registered when it is one of this host's, else
// loopback. A registration cannot send the gateway, and the identity it
// presents, to another host.
func (n *nodes) endpointAddr(ep epmd.Endpoint) string {
	ip := "127.0.0.1"
	if ep.Family == epmd.FamilyInet6 {
		ip = "::1"
	}
	if ep.Addr.IsValid() && !ep.Addr.IsUnspecified() && n.epmd.IsLocalAddr(ep.Addr) {
		ip = ep.Addr.String()
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(ep.Port)))
}

// tcpTarget finds where a node of this site listens for TCP
// distribution, for a relay from a peer.
func (n *nodes) tcpTarget(name string) (string, error) {
	addr, isTLS, err := n.Backend(name)
	switch {
	case err != nil:
		return "", err
	case isTLS:
		return "", fmt.Errorf("node %s listens for no TCP distribution", name)
	}
	return addr, nil
}

// canonical returns the one full name of a node of this host, whatever
// name of the host node was given with (localhost, 127.x, the short host
// name, another case): name@<the host it registered with>, or, for a node
// registered without one (ALIVE2) or not registered, name@<this host's
// name>. It fails when the host part names no host this gateway serves
// for that name. Every rule and policy decides on this name, so that one
// written for db@h1.example is not bypassed by asking for db@localhost.
//
// With a site directory, a node of another host of the site is named as
// its agent published it: name@<its host>.
func (n *nodes) canonical(node string) (string, error) {
	if n == nil || (n.epmd == nil && n.dir == nil) {
		return "", errNoEPMD
	}
	name, host := epmd.SplitNode(node)
	if n.epmd != nil {
		var regHost string
		n.epmd.Registry(func(r *epmd.Registry) { regHost = r.Host(name) })
		if host == "" || n.epmd.IsLocalHost(host) || strings.EqualFold(host, regHost) {
			return n.canonicalOf(name, regHost), nil
		}
	}
	if n.dir != nil && host != "" {
		if sn, ok := n.dir.Lookup(name, host); ok {
			return sn.FullName(), nil
		}
	}
	return "", fmt.Errorf("host %s is not served by site %s", host, n.site)
}

// siteTCPTarget finds where a node of another host of the site listens
// for TCP distribution, from the site directory: its registered port at
// its host's address.
func (n *nodes) siteTCPTarget(full string) (string, bool) {
	if n.dir == nil {
		return "", false
	}
	name, host := epmd.SplitNode(full)
	sn, ok := n.dir.Lookup(name, host)
	if !ok {
		return "", false
	}
	for _, ep := range sn.Endpoints([]string{"inet_tcp", "inet6_tcp"}) {
		return net.JoinHostPort(ep.Addr.String(), strconv.Itoa(int(ep.Port))), true
	}
	return "", false
}

// canonicalOf is the full name of a node registered with regHost ("" for
// none): see canonical.
func (n *nodes) canonicalOf(name, regHost string) string {
	if regHost == "" && n.epmd != nil {
		regHost = n.epmd.HostName()
	}
	return epmd.JoinNode(name, regHost)
}

// Target implements terminate.Backends: the canonical name of the node
// behind a TLS port, which its caller asked for by server name (SNI): a
// name of this host for the node, or one the gateway has a certificate
// for; any other server name is refused. A caller that gave none (an IP
// address) reaches the port's node.
func (n *nodes) Target(name, serverName string) (string, error) {
	if n.certNames[strings.ToLower(serverName)] {
		serverName = ""
	}
	return n.canonical(epmd.JoinNode(name, serverName))
}

// query is what the EPMD server would ask its resolver for a full-name
// lookup of node by asker (see epmd's lookupX): the registry's view of
// the name, and whether its host is this one.
func (n *nodes) query(node string, accept []string, asker string) epmd.Query {
	name, host := epmd.SplitNode(node)
	q := epmd.Query{Name: name, Host: host, Accept: accept, Asker: asker}
	if n.epmd == nil {
		return q
	}
	var regHost string
	n.epmd.Registry(func(r *epmd.Registry) {
		q.Local, q.Registered = r.Lookup(name, accept)
		regHost = r.Host(name)
	})
	q.LocalHost = n.epmd.IsLocalHost(host) || (regHost != "" && strings.EqualFold(regHost, host))
	return q
}

// count returns how many nodes are registered.
func (n *nodes) count() int {
	c := 0
	if n.epmd != nil {
		n.epmd.Registry(func(r *epmd.Registry) { c = r.Len() })
	}
	return c
}
