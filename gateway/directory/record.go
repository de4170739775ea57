package directory

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/distgate/distgate/epmd"
)

// Role is what a gateway of a site does.
type Role string

// Roles. A standalone gateway has no directory.
const (
	RoleAgent Role = "agent" // one per host: its EPMD
	RoleEdge  Role = "edge"  // links to other sites, connections to any host of the site
)

// Member is a gateway of the site, as it publishes itself under its lease.
type Member struct {
	ID   string `json:"id"`
	Role Role   `json:"role"`
	// Host is the host name of an agent (the host part of its nodes'
	// names); an edge's host name, for the status.
	Host string `json:"host"`
	// Addrs are the host's addresses on the site network: a registration
	// of this member is reached at one of them.
	Addrs []netip.Addr `json:"addrs,omitempty"`
	// QUIC and TLS are an edge's link endpoints for its site's agents
	// (host:port); empty for an agent.
	QUIC string `json:"quic,omitempty"`
	TLS  string `json:"tls,omitempty"`
	// Identity is the member's link identity (`distgate id`): the site's
	// gateways trust the links of their site's members by it.
	Identity string `json:"identity"`
	// Load is how many relays an edge carries, as it last published it:
	// agents prefer the least loaded of the edges they can reach.
	Load    int       `json:"load"`
	Started time.Time `json:"started"`

	lease int64 // the lease the record lives under (from etcd, not JSON)
}

// Node is a registration published by the agent of its host (Member).
type Node struct {
	Name       string           `json:"name"`
	Host       string           `json:"host"`
	Member     string           `json:"member"`
	Addr       netip.Addr       `json:"addr"` // where the node's host is reached: one of its member's Addrs
	NodeType   byte             `json:"node_type"`
	Creation   uint32           `json:"creation"`
	Transports []epmd.Transport `json:"transports"`

	lease int64
}

// FullName is the node's canonical name, name@host.
func (n Node) FullName() string { return epmd.JoinNode(n.Name, n.Host) }

// Endpoints are the node's transports as a lookup answers them: at its
// host's address, for the families that have one.
func (n Node) Endpoints(accept []string) []epmd.Endpoint {
	var out []epmd.Endpoint
	for _, t := range n.Transports {
		if t.Family == epmd.FamilyLocal {
			continue // a Unix socket of another host
		}
		if len(accept) > 0 && !slices.Contains(accept, t.Proto) {
			continue
		}
		if !t.Addr.IsValid() || t.Addr.IsUnspecified() || t.Addr.IsLoopback() {
			t.Addr = n.Addr
		}
		if t.Family == epmd.FamilyUnspec {
			t.Family = epmd.FamilyInet
		}
		out = append(out, epmd.Endpoint{Transport: t, NodeType: n.NodeType})
	}
	return out
}

// PolicyState is a shared policy's state: the module and configuration
// that every gateway of the site runs under its name. The module is
// stored content-addressed, in chunks under the site's blobs (Module).
type PolicyState struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	Chunks int    `json:"chunks"`
	Config []byte `json:"config,omitempty"`
	// Removed says the policy was removed: gateways remove it too.
	Removed bool      `json:"removed,omitempty"`
	By      string    `json:"by"` // the member that set it
	At      time.Time `json:"at"`
}

// Key layout under a site's prefix (Config.Prefix + site + "/"):
//
//	d/members/<id>        Member, under the member's lease
//	d/nodes/<name>        Node, under its agent's lease, created only if absent
//	d/policies/<name>     PolicyState
//	blobs/<sha256>/<i>    chunk i of a policy module
//	certs/...             certmagic's storage (Storage)
//	locks/...             certmagic's locks
//
// The one watch of a gateway covers d/, never the blobs or certificates.
const (
	dirPrefix      = "d/"
	membersPrefix  = dirPrefix + "members/"
	nodesPrefix    = dirPrefix + "nodes/"
	policiesPrefix = dirPrefix + "policies/"
	blobsPrefix    = "blobs/"
	certsPrefix    = "certs/"
	locksPrefix    = "locks/"
)

// parseKey splits a key relative to the site's prefix into its kind and
// name.
func parseKey(rel string) (kind, name string, ok bool) {
	for _, k := range []string{membersPrefix, nodesPrefix, policiesPrefix} {
		if n, found := strings.CutPrefix(rel, k); found && n != "" && !strings.Contains(n, "/") {
			return k, n, true
		}
	}
	return "", "", false
}

func decode[T any](kind, name string, v []byte) (T, error) {
	var out T
	if len(v) > maxRecord {
		return out, fmt.Errorf("directory: %s%s: record of %d bytes", kind, name, len(v))
	}
	if err := json.Unmarshal(v, &out); err != nil {
		return out, fmt.Errorf("directory: %s%s: %w", kind, name, err)
	}
	return out, nil
}
