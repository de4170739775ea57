package gateway

import (
	"errors"
	"net"
	"strconv"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/localpeer"
	"github.com/distgate/distgate/gateway/ports"
)

// A local caller's node name comes from its send_name, which any process
// of the host may write. The gateway believes it only when the user that
// owns the caller's socket is the user that owns the connection that
// registered the name with this host's EPMD: the node itself, or a process
// of the same user, which could as well have been that node. On systems
// where a socket's owner cannot be found, and with epmd.disabled (no
// registry), no caller is verified. Names are registered first come, first
// served: a verified name is the node that holds the registration now.

// peerUID finds the user that owns the other end of a loopback
// connection, for the EPMD's registrations (epmd.Config.PeerUID).
func peerUID(c net.Conn) (uint32, bool) {
	uid, err := localpeer.PeerUID(c)
	return uid, err == nil
}

// Verify implements proxy.Callers: node is a node of this host, registered
// by the owner of c's peer socket; name is its canonical full name.
func (n *nodes) Verify(c net.Conn, node string) (name string, ok bool) {
	full, err := n.canonical(node)
	if err != nil || !hasHost(node) {
		return "", false
	}
	short, _ := epmd.SplitNode(full)
	var owner epmd.Owner
	var registered bool
	n.epmd.Registry(func(r *epmd.Registry) { owner, registered = r.Owner(short) })
	if !registered || !owner.HasUID {
		return "", false
	}
	uid, err := localpeer.PeerUID(c)
	if err != nil || uid != owner.UID {
		return "", false
	}
	return full, true
}

// hasHost reports whether a node name is a full name (name@host).
func hasHost(node string) bool {
	name, host := epmd.SplitNode(node)
	return name != "" && host != ""
}

// portOwner is who the proxy port a lookup opens is charged to: the user
// that owns the asker's socket, with the bound of a user of registered
// nodes or the smaller one of any other local user. Where a socket's owner
// cannot be known, the pool's bound alone applies; an asker whose owner
// cannot be found (it has gone) shares one bound with every such asker.
func (n *nodes) portOwner(q epmd.Query) ports.Owner {
	uid, err := localpeer.PeerUIDOf(q.ServerAddr, q.Peer)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return ports.Owner{}
	case err != nil:
		return ports.Owner{Key: "an asker of unknown user", Max: MaxProxyPortsPerCaller}
	}
	owner := ports.Owner{Key: "uid " + strconv.FormatUint(uint64(uid), 10), Max: MaxProxyPortsPerCaller}
	registered := 0
	if n.epmd != nil {
		n.epmd.Registry(func(r *epmd.Registry) { registered = r.OwnedBy(uid) })
	}
	if registered > 0 {
		owner.Max = MaxProxyPortsPerOwner
	}
	return owner
}
