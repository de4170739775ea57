package gateway

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The link protocol between gateways. Every QUIC stream and every TLS
// connection between two gateways opens with a header from the dialling
// side, and the accepting side answers with a status before anything
// else flows:
//
//	header = Version:8 Kind:8 Len:16 Field*          ; Len bytes of fields
//	Field  = Tag:8 Len:16 Value                       ; unknown tags skipped
//	reply  = Status:8 Len:16 Message                  ; Message is UTF-8
//
// Kind relay (1) carries one distribution connection: after a status 0 the
// stream is the distribution byte stream, both ways, unchanged. Kind
// control (2) carries pings that keep a TLS link's liveness. Kind epmd (3)
// carries one EPMD extension request and its reply (secure remote
// queries).
const (
	linkVersion = 1

	kindRelay   = 1
	kindControl = 2
	kindEPMD    = 3

	// Relay header fields.
	fieldTarget     = 1 // string: the full name of the node to reach
	fieldCaller     = 2 // string: the caller's full name, from its send_name
	fieldLivenessMS = 3 // uint32: the route's liveness timeout
	fieldTickMS     = 4 // uint32: the route's tick interval
	fieldSite       = 5 // string: the dialling gateway's site

	maxHeaderLen = 4096
)

// Link statuses.
const (
	linkOK          = 0 // connected: bytes follow
	linkDenied      = 1 // the policy refuses the caller
	linkNotFound    = 2 // no such node behind this gateway
	linkUnreachable = 3 // the node did not accept the connection
	linkBadRequest  = 4 // the header was malformed
	linkUnavailable = 5 // this gateway cannot serve now (policy failure, shutting down)
)

var linkStatusNames = map[byte]string{
	linkOK: "ok", linkDenied: "denied", linkNotFound: "not found",
	linkUnreachable: "unreachable", linkBadRequest: "bad request", linkUnavailable: "unavailable",
}

// LinkError is a refusal from the peer gateway.
type LinkError struct {
	Status  byte
	Message string
}

// Error describes the refusal.
func (e *LinkError) Error() string {
	s := linkStatusNames[e.Status]
	if s == "" {
		s = fmt.Sprintf("status %d", e.Status)
	}
	return "peer gateway: " + s + ": " + e.Message
}

// streamHeader is the opening of a link stream.
type streamHeader struct {
	Kind     byte
	Target   string
	Caller   string
	Site     string
	Liveness time.Duration
	Tick     time.Duration
}

func (h streamHeader) append(b []byte) []byte {
	b = append(b, linkVersion, h.Kind, 0, 0)
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
	str(fieldSite, h.Site)
	u32(fieldLivenessMS, h.Liveness)
	u32(fieldTickMS, h.Tick)
	binary.BigEndian.PutUint16(b[start-2:], uint16(len(b)-start))
	return b
}

var errBadHeader = errors.New("malformed link header")

// readStreamHeader reads and parses a header.
func readStreamHeader(r io.Reader) (streamHeader, error) {
	var pre [4]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return streamHeader{}, fmt.Errorf("link header: %w", err)
	}
	if pre[0] != linkVersion {
		return streamHeader{}, fmt.Errorf("link header version %d, want %d: %w", pre[0], linkVersion, errBadHeader)
	}
	n := int(binary.BigEndian.Uint16(pre[2:]))
	if n > maxHeaderLen {
		return streamHeader{}, fmt.Errorf("link header of %d bytes: %w", n, errBadHeader)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return streamHeader{}, fmt.Errorf("link header: %w", err)
	}
	h, err := parseStreamHeader(pre[1], body)
	if err != nil {
		return streamHeader{}, err
	}
	return h, nil
}

func parseStreamHeader(kind byte, body []byte) (streamHeader, error) {
	h := streamHeader{Kind: kind}
	for len(body) > 0 {
		if len(body) < 3 {
			return streamHeader{}, fmt.Errorf("truncated field: %w", errBadHeader)
		}
		tag, n := body[0], int(binary.BigEndian.Uint16(body[1:]))
		if len(body) < 3+n {
			return streamHeader{}, fmt.Errorf("field %d truncated: %w", tag, errBadHeader)
		}
		v := body[3 : 3+n]
		body = body[3+n:]
		switch tag {
		case fieldTarget:
			h.Target = string(v)
		case fieldCaller:
			h.Caller = string(v)
		case fieldSite:
			h.Site = string(v)
		case fieldLivenessMS, fieldTickMS:
			if n != 4 {
				return streamHeader{}, fmt.Errorf("field %d of %d bytes: %w", tag, n, errBadHeader)
			}
			d := time.Duration(binary.BigEndian.Uint32(v)) * time.Millisecond
			if tag == fieldLivenessMS {
				h.Liveness = d
			} else {
				h.Tick = d
			}
		}
	}
	if h.Kind == kindRelay && h.Target == "" {
		return streamHeader{}, fmt.Errorf("relay header without a target: %w", errBadHeader)
	}
	return h, nil
}

// appendLinkReply appends a status reply.
func appendLinkReply(b []byte, status byte, msg string) []byte {
	if len(msg) > maxHeaderLen {
		msg = msg[:maxHeaderLen]
	}
	b = append(b, status)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

// readLinkReply reads a status reply; a refusal comes back as *LinkError.
func readLinkReply(r io.Reader) error {
	var pre [3]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return fmt.Errorf("link reply: %w", err)
	}
	msg := make([]byte, binary.BigEndian.Uint16(pre[1:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return fmt.Errorf("link reply: %w", err)
	}
	if pre[0] != linkOK {
		return &LinkError{Status: pre[0], Message: string(msg)}
	}
	return nil
}
