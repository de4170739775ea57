// Package localpeer tells who is at the other end of a TCP connection
// between two sockets of this host: the user (uid) that owns the peer's
// socket. The gateway uses it to tell a local node from any other local
// process that claims its name, since anyone on the host can connect to a
// loopback port and write a send_name.
//
// On Linux the kernel answers: a sock_diag (NETLINK_SOCK_DIAG, inet_diag)
// request for the exact four-tuple of the peer's socket, or, where the
// netlink family is unavailable, /proc/net/tcp and /proc/net/tcp6. Only an
// established socket counts: a socket in TIME_WAIT or a half-open request
// is reported with uid 0 by the kernel, whoever opened it. Elsewhere the
// owner cannot be found and PeerUID returns errors.ErrUnsupported: callers
// treat the peer as unverified.
package localpeer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrNotFound is returned when no established socket of this host is the
// peer of the connection (it has closed, or it is on another host).
var ErrNotFound = errors.New("localpeer: no established local socket at the other end")

// PeerUID returns the uid that owns the socket at the other end of c, a
// TCP connection whose peer is on this host.
func PeerUID(c net.Conn) (uint32, error) {
	ours, ok1 := c.LocalAddr().(*net.TCPAddr)
	theirs, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("localpeer: %T is not a TCP connection: %w", c, ErrNotFound)
	}
	return PeerUIDOf(ours.AddrPort(), theirs.AddrPort())
}

// PeerUIDOf returns the uid that owns the socket at theirs connected to
// ours (the addresses of a connection as this side sees them).
func PeerUIDOf(ours, theirs netip.AddrPort) (uint32, error) {
	ours = netip.AddrPortFrom(ours.Addr().Unmap(), ours.Port())
	theirs = netip.AddrPortFrom(theirs.Addr().Unmap(), theirs.Port())
	if !ours.IsValid() || !theirs.IsValid() || ours.Addr().Is4() != theirs.Addr().Is4() {
		return 0, fmt.Errorf("localpeer: %s to %s: %w", theirs, ours, ErrNotFound)
	}
	// The peer's socket sees the connection the other way round.
	uid, err := socketUID(sock{local: theirs, remote: ours})
	if err != nil {
		return 0, fmt.Errorf("localpeer: owner of %s (connected to %s): %w", theirs, ours, err)
	}
	return uid, nil
}

// sock names a TCP socket by its four-tuple, from its own side.
type sock struct {
	local, remote netip.AddrPort
}

// tcpEstablished is the kernel's TCP_ESTABLISHED state.
const tcpEstablished = 1
