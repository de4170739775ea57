package linkwire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// A control stream (KindControl) keeps the liveness of a TLS link, whose
// relayed connections are raw TCP underneath and would not notice a peer
// gateway that stopped answering while its kernel still acknowledges
// every segment. After the header (its Liveness field is the route's) and
// a StatusOK reply, the dialling side sends a ping every fraction of the
// liveness and the accepting side answers each with a pong; each side
// declares the link dead when nothing has come for the liveness:
//
//	message = Type:8 Seq:64                           ; 9 bytes
//
// Type is 'p' (ping) or 'P' (pong, carrying the ping's Seq). A message of
// another type is malformed and ends the stream.
const (
	msgPing = 'p'
	msgPong = 'P'
	// PingLen is the length of every control message.
	PingLen = 9
)

// Ping is a control message: a ping, or the pong that answers one.
type Ping struct {
	Pong bool
	Seq  uint64
}

// Append appends the encoded message to b.
func (p Ping) Append(b []byte) []byte {
	t := byte(msgPing)
	if p.Pong {
		t = msgPong
	}
	return binary.BigEndian.AppendUint64(append(b, t), p.Seq)
}

// ParsePing parses the message b starts with. A b shorter than PingLen
// returns io.ErrUnexpectedEOF.
func ParsePing(b []byte) (Ping, error) {
	if len(b) < PingLen {
		return Ping{}, fmt.Errorf("control message: %w", io.ErrUnexpectedEOF)
	}
	p := Ping{Seq: binary.BigEndian.Uint64(b[1:PingLen])}
	switch b[0] {
	case msgPing:
	case msgPong:
		p.Pong = true
	default:
		return Ping{}, fmt.Errorf("control message type %#x: %w", b[0], ErrMalformed)
	}
	return p, nil
}

// ReadPing reads one control message.
func ReadPing(r io.Reader) (Ping, error) {
	var b [PingLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Ping{}, fmt.Errorf("control message: %w", err)
	}
	return ParsePing(b[:])
}
