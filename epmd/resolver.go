package epmd

import (
	"context"
	"net/netip"
)

// Query is what the server asks its Resolver about a node: a full-name
// lookup (LOOKUP_X) or a classic PORT_PLEASE2.
type Query struct {
	Name   string   // the node name without the host
	Host   string   // the host part; "" when the asker gave a bare name
	Accept []string // protocols the asker accepts, preferred first; nil = any
	Asker  string   // the asker's own node name, when it told
	// LocalHost reports whether Host names this host (or was empty).
	LocalHost bool
	// Local is the registry's answer for Name: its endpoints filtered by
	// Accept. Registered is false when the name is not registered here.
	Local      []Endpoint
	Registered bool
	// Peer is the address the query came from; LocalPeer whether it is
	// this host (loopback or one of its addresses). ServerAddr is the
	// address it came to: with Peer, the connection's four-tuple, by which
	// a resolver may find who asks (the owner of a local peer's socket).
	Peer       netip.AddrPort
	LocalPeer  bool
	ServerAddr netip.AddrPort
	// Classic is set for PORT_PLEASE2, which has no host and no accept list.
	Classic bool
}

// Answer is a Resolver's reply.
type Answer struct {
	Status    Status
	Endpoints []Endpoint
	Message   string // why, for a status other than StatusOK
}

// Resolver decides lookups. The server's default (when Config.Resolver is
// nil) is LocalResolver: local names from the registry, nothing else. A
// gateway plugs its routing policies in here.
type Resolver interface {
	Resolve(ctx context.Context, q Query) Answer
}

// LocalResolver answers from the registry alone: a node on this host is
// found when registered and offering an accepted protocol; a node on
// another host gets StatusNoRoute, so the asker resolves it the classic
// way (the host's own EPMD).
type LocalResolver struct{}

// Resolve implements Resolver.
func (LocalResolver) Resolve(_ context.Context, q Query) Answer {
	switch {
	case !q.LocalHost:
		return Answer{Status: StatusNoRoute, Message: "host " + q.Host + " is not this host and no route is configured"}
	case !q.Registered:
		return Answer{Status: StatusNotFound, Message: "no node " + q.Name + " is registered"}
	case len(q.Local) == 0:
		return Answer{Status: StatusNotFound, Message: "node " + q.Name + " offers none of the accepted protocols"}
	}
	return Answer{Status: StatusOK, Endpoints: q.Local}
}

// NonLocalPolicy decides what the extension's queries tell a peer that is
// not this host (Config.NonLocal): a classic EPMD listening beyond
// loopback answers NAMES_X and LOOKUP_X to other hosts only as it allows.
type NonLocalPolicy interface {
	// MayList reports whether peer may see node in a NAMES_X reply, or,
	// with lookup set, look it up by LOOKUP_X; node "" asks whether peer
	// may list at all. Node is a full name, or the bare name a lookup gave.
	MayList(ctx context.Context, peer netip.AddrPort, node string, lookup bool) bool
}
