package gateway

import (
	"net"
	"time"

	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/proxy"
	"github.com/distgate/distgate/gateway/relay"
)

// Status is the answer of GET /v1/status.
type Status struct {
	Site        string          `json:"site"`
	Identity    string          `json:"identity"`
	Started     time.Time       `json:"started"`
	EPMD        string          `json:"epmd"`
	QUIC        string          `json:"quic"`
	TLS         string          `json:"tls"`
	CertExpires time.Time       `json:"cert_expires"`
	Certs       []pki.CertState `json:"certificates"`
	PublicEPMD  string          `json:"public_epmd"`
	Nodes       int             `json:"nodes"`
	Links       []link.Status   `json:"links"`
	Proxies     []proxy.Status  `json:"proxies"`
	Relays      []relay.Status  `json:"relays"`
	// Role is standalone, agent or edge; Directory is the site directory
	// of an agent or an edge: whether it is stale, its members, the
	// registrations of this host it holds back or lost.
	Role      string            `json:"role"`
	Directory *directory.Status `json:"directory,omitempty"`
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
		Role: g.role, Directory: ds,
		Site: g.site, Identity: g.identity.ID.String(), Started: g.started,
		EPMD: addrString(g.epmdLn), QUIC: netAddrString(quicAddr), TLS: netAddrString(tlsAddr),
		CertExpires: g.certs.SiteExpiry(), Certs: g.certs.States(), PublicEPMD: addrString(g.publicLn),
		Nodes: g.nodes.count(), Links: g.links.Status(), Proxies: g.proxies.Status(), Relays: g.relays.Status(),
	}
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
