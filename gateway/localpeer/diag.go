package localpeer

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// The sock_diag request and reply for one TCP socket, a pure codec
// (linux/sock_diag.h, linux/inet_diag.h). Netlink headers and the
// interface and cookie fields are in the host's byte order; ports and
// addresses in network order.
//
//	nlmsghdr        = len:u32 type:u16 flags:u16 seq:u32 pid:u32           16 bytes
//	inet_diag_req_v2 = family:u8 protocol:u8 ext:u8 pad:u8 states:u32 id    56 bytes
//	inet_diag_sockid = sport:be16 dport:be16 src:16B dst:16B if:u32 cookie:2xu32  48 bytes
//	inet_diag_msg    = family:u8 state:u8 timer:u8 retrans:u8 id
//	                   expires:u32 rqueue:u32 wqueue:u32 uid:u32 inode:u32  72 bytes
//
// Without NLM_F_DUMP the kernel looks the socket up by its exact
// four-tuple and answers with one inet_diag_msg, or an NLMSG_ERROR.
const (
	nlmsgHdrLen      = 16
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	nlmsgError       = 2  // NLMSG_ERROR
	nlmsgDone        = 3  // NLMSG_DONE
	nlmFRequest      = 1  // NLM_F_REQUEST
	sockIDLen        = 48
	reqLen           = 8 + sockIDLen
	msgLen           = 4 + sockIDLen + 20
	noCookie         = ^uint32(0) // INET_DIAG_NOCOOKIE
	ipprotoTCP       = 6
)

// Linux's address families.
const (
	afInet  = 2
	afInet6 = 10
)

// family is the address family a socket of s's addresses has.
func (s sock) family(v6 bool) uint8 {
	if v6 {
		return afInet6
	}
	return afInet
}

// appendSockID appends the inet_diag_sockid of s, with IPv4 addresses
// mapped into IPv6 when v6 (a dual-stack socket's view of them).
func appendSockID(b []byte, s sock, v6 bool) []byte {
	b = binary.BigEndian.AppendUint16(b, s.local.Port())
	b = binary.BigEndian.AppendUint16(b, s.remote.Port())
	for _, a := range []netip.Addr{s.local.Addr(), s.remote.Addr()} {
		var raw [16]byte
		if v6 {
			raw = a.As16()
		} else {
			copy(raw[:], a.AsSlice())
		}
		b = append(b, raw[:]...)
	}
	b = binary.NativeEndian.AppendUint32(b, 0) // any interface
	b = binary.NativeEndian.AppendUint32(b, noCookie)
	return binary.NativeEndian.AppendUint32(b, noCookie)
}

// appendRequest appends the netlink message that asks for the socket s.
func appendRequest(b []byte, s sock, v6 bool, seq uint32) []byte {
	b = binary.NativeEndian.AppendUint32(b, nlmsgHdrLen+reqLen)
	b = binary.NativeEndian.AppendUint16(b, sockDiagByFamily)
	b = binary.NativeEndian.AppendUint16(b, nlmFRequest)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, s.family(v6), ipprotoTCP, 0, 0)
	b = binary.NativeEndian.AppendUint32(b, ^uint32(0)) // every state: the reply's is checked
	return appendSockID(b, s, v6)
}

// parseReply reads the kernel's answer to appendRequest(s, v6, seq): the
// uid of the socket, which must be s itself (not a listener the lookup
// fell back to) and established. A netlink error is returned as its
// errno; ENOENT means no such socket.
func parseReply(b []byte, s sock, v6 bool, seq uint32) (uint32, error) {
	want := appendSockID(nil, s, v6)[:4+32] // ports and addresses
	for len(b) >= nlmsgHdrLen {
		n := int(binary.NativeEndian.Uint32(b))
		typ := binary.NativeEndian.Uint16(b[4:])
		if n < nlmsgHdrLen || n > len(b) {
			return 0, fmt.Errorf("sock_diag: message of %d bytes in %d", n, len(b))
		}
		body := b[nlmsgHdrLen:n]
		msgSeq := binary.NativeEndian.Uint32(b[8:])
		b = b[(n+3)&^3:]
		if msgSeq != seq {
			continue
		}
		switch typ {
		case nlmsgError:
			if len(body) < 4 {
				return 0, fmt.Errorf("sock_diag: short error message")
			}
			if e := int32(binary.NativeEndian.Uint32(body)); e != 0 {
				return 0, syscall.Errno(-e)
			}
			return 0, syscall.ENOENT
		case nlmsgDone:
			return 0, syscall.ENOENT
		case sockDiagByFamily:
			if len(body) < msgLen {
				return 0, fmt.Errorf("sock_diag: reply of %d bytes, want %d", len(body), msgLen)
			}
			if body[0] != s.family(v6) || string(body[4:4+len(want)]) != string(want) {
				return 0, fmt.Errorf("sock_diag: the reply names another socket: %w", ErrNotFound)
			}
			if body[1] != tcpEstablished {
				return 0, fmt.Errorf("sock_diag: socket in state %d, not established: %w", body[1], ErrNotFound)
			}
			return binary.NativeEndian.Uint32(body[4+sockIDLen+12:]), nil
		}
	}
	return 0, fmt.Errorf("sock_diag: no reply: %w", ErrNotFound)
}
