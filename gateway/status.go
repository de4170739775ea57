package gateway

import (
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/proxy"
	"github.com/distgate/distgate/gateway/relay"
)

// StatusSchema is the version of Status's JSON form (`distgate status
// -json`, GET /v1/status), documented in STATUS.md. Fields are only
// added within a version; a field that changes meaning or goes away takes
// a new one.
const StatusSchema = 1

// Status is the answer of GET /v1/status.
type Status struct {
	Schema      int             `json:"schema"`
	Site        string          `json:"site"`
	Role        string          `json:"role"`
	Version     string          `json:"version"`
	Identity    string          `json:"identity"`
	Started     time.Time       `json:"started"`
	EPMD        string          `json:"epmd"`
	QUIC        string          `json:"quic"`
	TLS         string          `json:"tls"`
	CertExpires time.Time       `json:"cert_expires"`
	Certs       []pki.CertState `json:"certificates"`
	PublicEPMD  string          `json:"public_epmd"`
	Nodes       int             `json:"nodes"`
	Registered  []NodeView      `json:"registered"`
	Peers       []link.Summary  `json:"peers"`
	Links       []link.Status   `json:"links"`
	Proxies     []proxy.Status  `json:"proxies"`
	Relays      []relay.Status  `json:"relays"`
	// Directory is the site directory of an agent or an edge (Role):
	// whether it is stale, its members, the registrations of this host it
	// holds back or lost. A standalone gateway has none.
	Directory *directory.Status `json:"directory,omitempty"`
}

// NodeView is a node registered with this gateway's EPMD.
type NodeView struct {
	Name       string          `json:"name"`
	Host       string          `json:"host,omitempty"`
	Transports []TransportView `json:"transports"`
}

// TransportView is one of a node's transports.
type TransportView struct {
	Proto   string `json:"proto"`
	Address string `json:"address"` // host:port, or the socket path
}

// Status returns the gateway's state.
func (g *Gateway) Status() Status {
	quicAddr, tlsAddr := g.links.Addrs()
	var ds *directory.Status
	if g.dir != nil {
		st := g.dir.Status()
		ds = &st
	}
	return Status{
		Schema: StatusSchema, Site: g.site, Role: g.role, Directory: ds, Version: g.version, Identity: g.identity.ID.String(), Started: g.started,
		EPMD: addrString(g.epmdLn), QUIC: netAddrString(quicAddr), TLS: netAddrString(tlsAddr),
		CertExpires: g.certs.SiteExpiry(), Certs: g.certs.States(), PublicEPMD: addrString(g.publicLn),
		Nodes: g.nodes.count(), Registered: g.nodes.list(), Peers: g.links.Summaries(),
		Links: nonNil(g.links.Status()), Proxies: g.proxies.Status(), Relays: g.relays.Status(),
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// list returns the registered nodes, by name.
func (n *nodes) list() []NodeView {
	out := []NodeView{}
	if n.epmd == nil {
		return out
	}
	var infos []epmd.NodeInfo
	n.epmd.Registry(func(r *epmd.Registry) { infos = r.Nodes() })
	for _, ni := range infos {
		v := NodeView{Name: ni.Name, Host: ni.Host, Transports: []TransportView{}}
		for _, t := range ni.Transports {
			addr := t.Path
			if t.Family != epmd.FamilyLocal {
				host := "*"
				if t.Addr.IsValid() {
					host = t.Addr.String()
				}
				addr = net.JoinHostPort(host, strconv.Itoa(int(t.Port)))
			}
			v.Transports = append(v.Transports, TransportView{Proto: t.Proto, Address: addr})
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
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
