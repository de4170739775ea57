package distfilter

import (
	"encoding/binary"
	"unicode/utf8"
)

// The distribution handshake (erl_dist_protocol, "Distribution
// Handshake"; OTP's dist_util.erl). Each message is framed with a 2-byte
// length over TCP distribution, a 4-byte one over TLS distribution. The
// node that dials (A) sends:
//
//	'N' Flags:8 Creation:4 NLen:2 Name          send_name (version 6)
//	'n' Version:2 Flags:4 Name                  send_name (version 5)
//	'c' FlagsHigh:4 Creation:4                  send_complement, after a
//	                                            version 5 send_name
//	'r' Challenge:4 Digest:16                   challenge reply: A's last
//
// and the node that accepts (B):
//
//	's' Status                                  "ok", "named:" NLen:2 Name Creation:4, ...
//	'N' Flags:8 Challenge:4 Creation:4 NLen:2 Name   challenge (version 6)
//	'n' Version:2 Flags:4 Challenge:4 Name      challenge (version 5)
//	'a' Digest:16                               challenge ack: B's last
//
// After its last handshake message, a direction carries 4-byte framed
// packets. The connection's flags are those both nodes sent, and'ed.
const (
	hsSendNameV6 = 'N'
	hsSendNameV5 = 'n'
	hsComplement = 'c'
	hsStatus     = 's'
	hsReply      = 'r'
	hsAck        = 'a'

	// maxHandshakeMessage bounds one handshake message, and
	// maxHandshakeMessages their number in one direction: OTP sends at
	// most three.
	maxHandshakeMessage  = 64 << 10
	maxHandshakeMessages = 8
	// hsKeep is how much of a message the observer keeps: names are at
	// most 255 characters of 4 bytes, twice, with '@'.
	hsKeep = 32 + 2*maxAtomBytes + 1
)

// Node is one end of a connection as its handshake told.
type Node struct {
	Name     string // the node name it gave (the dialling node's send_name, the accepting node's challenge)
	Flags    uint64 // the distribution flags it sent
	Creation uint32
}

// hsObserver follows the handshake messages one node sends, as they
// pass, and reads its name, flags and creation from them.
type hsObserver struct {
	prefix   int  // 2 or 4
	dialling bool // the sender dialled: its messages are A's
	node     Node
	done     bool // its last message went by
	messages int

	hdr    [4]byte
	hdrLen int
	remain int // bytes of the current message still to come
	msg    []byte
	msgCap [hsKeep]byte
}

func newObserver(prefix int, dialling bool) hsObserver {
	return hsObserver{prefix: prefix, dialling: dialling}
}

// feed reads p and returns how many of its bytes belong to the handshake:
// all of them until the last message has gone by. A handshake the nodes
// would not complete is an error.
func (o *hsObserver) feed(p []byte) (int, error) {
	used := 0
	for used < len(p) && !o.done {
		if o.remain == 0 {
			k := copy(o.hdr[o.hdrLen:o.prefix], p[used:])
			o.hdrLen += k
			used += k
			if o.hdrLen < o.prefix {
				break
			}
			var n int
			if o.prefix == 2 {
				n = int(binary.BigEndian.Uint16(o.hdr[:]))
			} else {
				n = int(binary.BigEndian.Uint32(o.hdr[:]))
			}
			o.hdrLen = 0
			o.messages++
			if n == 0 || n > maxHandshakeMessage || o.messages > maxHandshakeMessages {
				return used, bad("handshake message of " + itoa(int64(n)) + " bytes, or too many messages")
			}
			o.remain = n
			o.msg = o.msgCap[:0]
			continue
		}
		k := min(o.remain, len(p)-used)
		if room := hsKeep - len(o.msg); room > 0 {
			o.msg = append(o.msg, p[used:used+min(k, room)]...)
		}
		o.remain -= k
		used += k
		if o.remain == 0 {
			o.message(o.msg)
		}
	}
	return used, nil
}

// message reads one whole handshake message (its first hsKeep bytes).
func (o *hsObserver) message(m []byte) {
	switch {
	case m[0] == hsReply && o.dialling, m[0] == hsAck && !o.dialling:
		o.done = true
	case m[0] == hsSendNameV6 && o.dialling && len(m) >= 15:
		o.node.Flags = binary.BigEndian.Uint64(m[1:])
		o.node.Creation = binary.BigEndian.Uint32(m[9:])
		o.node.Name = name(m[15:], int(binary.BigEndian.Uint16(m[13:])))
	case m[0] == hsSendNameV6 && !o.dialling && len(m) >= 19:
		o.node.Flags = binary.BigEndian.Uint64(m[1:])
		o.node.Creation = binary.BigEndian.Uint32(m[13:])
		o.node.Name = name(m[19:], int(binary.BigEndian.Uint16(m[17:])))
	case m[0] == hsSendNameV5 && o.dialling && len(m) >= 7:
		o.node.Flags = uint64(binary.BigEndian.Uint32(m[3:]))
		o.node.Name = name(m[7:], len(m)-7)
	case m[0] == hsSendNameV5 && !o.dialling && len(m) >= 11:
		o.node.Flags = uint64(binary.BigEndian.Uint32(m[3:]))
		o.node.Name = name(m[11:], len(m)-11)
	case m[0] == hsComplement && o.dialling && len(m) >= 9:
		o.node.Flags |= uint64(binary.BigEndian.Uint32(m[1:])) << 32
		o.node.Creation = binary.BigEndian.Uint32(m[5:])
	default:
		// A status ('s', from either side: "ok", "named:...", "alive",
		// "true"), or a message the nodes themselves will refuse: the
		// filter reads nothing from it.
	}
}

// name returns a node name of n bytes from the start of b, which may hold
// fewer (kept bytes only); an invalid name is empty.
func name(b []byte, n int) string {
	if n > len(b) || !utf8.Valid(b[:n]) {
		return ""
	}
	return string(b[:n])
}
