// Package linkwire is the wire format of links between gateways: the
// header that opens every link stream and the status reply that answers
// it. It is a pure codec: it parses and appends bytes, and reads from an
// io.Reader only in ReadHeader and ReadReply; it never touches a socket.
//
// Every QUIC stream and every TLS connection between two gateways (and
// every secure remote query over QUIC) opens with a header from the
// dialling side; the accepting side answers with a reply before anything
// else flows:
//
//	header = Version:8 Kind:8 Len:16 Field*          ; Len bytes of fields
//	Field  = Tag:8 Len:16 Value                       ; unknown tags skipped
//	reply  = Status:8 Len:16 Message                  ; Message is UTF-8
//
// Integers are big-endian. Kind relay (1) carries one distribution
// connection: after StatusOK the stream is the distribution byte stream,
// both ways, unchanged. Its header names the final target and the
// original caller, so that one connection may cross several gateways
// (agent -> edge -> peer edge -> node, or through transit sites), each of
// which authorizes it and counts the hop (MaxHops). Kind control (2)
// keeps a TLS link's liveness with pings and pongs (control.go); a gateway
// that does not serve it answers StatusBadRequest. Kind epmd (3) carries one EPMD extension request and
// its reply (secure remote queries).
package linkwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Version is the first byte of every header.
const Version = 1

// Kind says what a link stream carries.
type Kind byte

// Stream kinds.
const (
	KindRelay   Kind = 1 // one distribution connection
	KindControl Kind = 2 // a TLS link's pings and pongs (control.go)
	KindEPMD    Kind = 3 // one EPMD extension request and its reply
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindRelay:
		return "relay"
	case KindControl:
		return "control"
	case KindEPMD:
		return "epmd"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Header fields.
const (
	fieldTarget     = 1 // string: the full name of the node to reach
	fieldCaller     = 2 // string: the caller's full name, from its send_name
	fieldLivenessMS = 3 // uint32: the route's liveness timeout, in milliseconds
	fieldTickMS     = 4 // uint32: the route's tick interval, in milliseconds
	// Tag 5 carried the dialling gateway's site, which nothing read (the
	// TLS handshake identifies the peer); it is no longer sent and, like
	// every unknown tag, skipped.
	fieldCallerVerified = 6 // empty: the dialling gateway verified Caller; absent: it did not
	fieldHops           = 7 // uint8: the links this stream has crossed, this one included
	fieldOrigin         = 8 // string: the site of the original caller, once the stream left it
)

// MaxHops is the most links a relay may cross, from the caller's gateway
// to the target's: agent, edge, transit sites, edge. A gateway refuses a
// stream whose Hops is over it, which ends a loop of routes.
const MaxHops = 8

// MaxHeaderLen bounds the fields of a header, and the message of a reply.
const MaxHeaderLen = 4096

// preludeLen is the fixed part of a header: version, kind, length.
const preludeLen = 4

// ErrMalformed is wrapped by every error about bytes that are not a
// well-formed header.
var ErrMalformed = errors.New("malformed link header")

// Header is the opening of a link stream.
type Header struct {
	Kind   Kind
	Target string // KindRelay: the full name of the node to reach (required)
	Caller string // KindRelay: the caller's full name, from its send_name
	// CallerVerified is set when the dialling gateway verified Caller: a
	// node of its host, whose socket has the owner of the connection that
	// registered that name with its EPMD. A gateway that does not send it
	// (an older one) vouches for nothing.
	CallerVerified bool
	Liveness       time.Duration // the route's liveness timeout; 0: the receiver's default
	Tick           time.Duration // the route's tick interval; 0: no tick
	// Hops counts the links the stream has crossed, this one included: 1
	// from the caller's gateway, one more at each gateway that forwards it
	// (an edge of the caller's site, a transit site). 0 (an older gateway)
	// counts as 1.
	Hops uint8
	// Origin is the site of the original caller once the stream has left
	// it (an edge forwarding a stream of its site's agents sets it; a
	// transit site keeps it); empty: the dialling gateway's own site.
	Origin string
}

// Append appends the encoded header to b. Durations are sent in whole
// milliseconds, at most 2^32-1; strings longer than 65,535 bytes do not
// fit a field and are the caller's error.
func (h Header) Append(b []byte) []byte {
	b = append(b, Version, byte(h.Kind), 0, 0)
	start := len(b)
	str := func(tag byte, s string) {
		if s != "" {
			b = append(b, tag)
			b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
			b = append(b, s...)
		}
	}
	u32 := func(tag byte, d time.Duration) {
		if d > 0 {
			b = append(b, tag, 0, 4)
			b = binary.BigEndian.AppendUint32(b, uint32(min(d.Milliseconds(), 1<<32-1)))
		}
	}
	str(fieldTarget, h.Target)
	str(fieldCaller, h.Caller)
	u32(fieldLivenessMS, h.Liveness)
	u32(fieldTickMS, h.Tick)
	if h.CallerVerified {
		b = append(b, fieldCallerVerified, 0, 0)
	}
	if h.Hops > 0 {
		b = append(b, fieldHops, 0, 1, h.Hops)
	}
	str(fieldOrigin, h.Origin)
	binary.BigEndian.PutUint16(b[start-2:], uint16(len(b)-start))
	return b
}

// headerLen returns the length of the header that b starts with, from its
// prelude (which b must hold).
func headerLen(pre []byte) (int, error) {
	if pre[0] != Version {
		return 0, fmt.Errorf("link header version %d, want %d: %w", pre[0], Version, ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(pre[2:]))
	if n > MaxHeaderLen {
		return 0, fmt.Errorf("link header of %d bytes: %w", n, ErrMalformed)
	}
	return preludeLen + n, nil
}

// ParseHeader parses the header b starts with and returns it with the
// number of bytes it took. A b too short for the whole header returns
// io.ErrUnexpectedEOF.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < preludeLen {
		return Header{}, 0, fmt.Errorf("link header: %w", io.ErrUnexpectedEOF)
	}
	n, err := headerLen(b)
	if err != nil {
		return Header{}, 0, err
	}
	if len(b) < n {
		return Header{}, 0, fmt.Errorf("link header: %w", io.ErrUnexpectedEOF)
	}
	h, err := parseFields(Kind(b[1]), b[preludeLen:n])
	if err != nil {
		return Header{}, 0, err
	}
	return h, n, nil
}

// ReadHeader reads and parses a header, and nothing after it.
func ReadHeader(r io.Reader) (Header, error) {
	var pre [preludeLen]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return Header{}, fmt.Errorf("link header: %w", err)
	}
	n, err := headerLen(pre[:])
	if err != nil {
		return Header{}, err
	}
	body := make([]byte, n-preludeLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, fmt.Errorf("link header: %w", err)
	}
	return parseFields(Kind(pre[1]), body)
}

func parseFields(kind Kind, body []byte) (Header, error) {
	h := Header{Kind: kind}
	for len(body) > 0 {
		if len(body) < 3 {
			return Header{}, fmt.Errorf("truncated field: %w", ErrMalformed)
		}
		tag, n := body[0], int(binary.BigEndian.Uint16(body[1:]))
		if len(body) < 3+n {
			return Header{}, fmt.Errorf("field %d truncated: %w", tag, ErrMalformed)
		}
		v := body[3 : 3+n]
		body = body[3+n:]
		switch tag {
		case fieldTarget:
			h.Target = string(v)
		case fieldCaller:
			h.Caller = string(v)
		case fieldOrigin:
			h.Origin = string(v)
		case fieldHops:
			if n != 1 {
				return Header{}, fmt.Errorf("field %d of %d bytes: %w", tag, n, ErrMalformed)
			}
			h.Hops = v[0]
		case fieldCallerVerified:
			if n != 0 {
				return Header{}, fmt.Errorf("field %d of %d bytes: %w", tag, n, ErrMalformed)
			}
			h.CallerVerified = true
		case fieldLivenessMS, fieldTickMS:
			if n != 4 {
				return Header{}, fmt.Errorf("field %d of %d bytes: %w", tag, n, ErrMalformed)
			}
			d := time.Duration(binary.BigEndian.Uint32(v)) * time.Millisecond
			if tag == fieldLivenessMS {
				h.Liveness = d
			} else {
				h.Tick = d
			}
		}
	}
	if h.Kind == KindRelay && h.Target == "" {
		return Header{}, fmt.Errorf("relay header without a target: %w", ErrMalformed)
	}
	return h, nil
}
