package epmd

import (
	"encoding/binary"
	"fmt"
)

// Extension command bytes: OTP's epmd closes on all of them without a reply.
// Every extension request is `cmd:8 version:8 fields...` inside the classic
// 2-byte length frame; every reply is `code:8 version:8 status:8 len:32
// fields...`. A field is `tag:8 len:16 value`. See PROTOCOL.md.
const (
	cmdRegisterX   = 'R' // fields: NAME, HOST?, NODETYPE?, TRANSPORT+
	cmdAddTranspts = 'T' // on a registration connection only; fields: TRANSPORT+
	cmdLookupX     = 'L' // fields: NODE, ACCEPT*, ASKER?
	cmdNamesX      = 'N' // fields: none yet
)

// Extension reply codes: the request code in lower case.
const (
	respRegisterX   = 'r'
	respAddTranspts = 't'
	respLookupX     = 'l'
	respNamesX      = 'n'
)

// ExtVersion is the version of the extension this package speaks. A server
// answers a request of a higher version in its own version; fields it does
// not know are skipped by both sides.
const ExtVersion = 1

// extReplyHeaderLen is the length of `code version status len:32`.
const extReplyHeaderLen = 7

// MaxExtReplyLen bounds the body of an extension reply a client accepts.
const MaxExtReplyLen = 64 << 20

// Status is the result of an extension request.
type Status byte

// Extension statuses.
const (
	StatusOK          Status = 0 // done
	StatusNameInUse   Status = 1 // the name is registered on another connection
	StatusBadRequest  Status = 2 // a field is missing or invalid; MESSAGE says which
	StatusNotFound    Status = 3 // no such node, or no endpoint the asker accepts
	StatusDenied      Status = 4 // policy or origin refuses the request
	StatusUnsupported Status = 5 // the request version is not spoken here
	StatusUnavailable Status = 6 // the answer depends on something that failed
	StatusNoRoute     Status = 7 // the host is not this one and no route leads there: resolve it the classic way
)

var statusNames = [...]string{"ok", "name in use", "bad request", "not found", "denied", "unsupported", "unavailable", "no route"}

// String names the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status %d", byte(s))
}

// tagMessage is the field every reply may carry: a human-readable reason.
const tagMessage = 255

// appendField appends one `tag:8 len:16 value` field.
func appendField(b []byte, tag byte, value []byte) []byte {
	b = append(b, tag)
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

func appendStringField(b []byte, tag byte, s string) []byte {
	b = append(b, tag)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendUint8Field(b []byte, tag, v byte) []byte {
	return append(b, tag, 0, 1, v)
}

func appendUint16Field(b []byte, tag byte, v uint16) []byte {
	b = append(b, tag, 0, 2)
	return binary.BigEndian.AppendUint16(b, v)
}

func appendUint32Field(b []byte, tag byte, v uint32) []byte {
	b = append(b, tag, 0, 4)
	return binary.BigEndian.AppendUint32(b, v)
}

// beginField starts a field whose value is appended afterwards (a nested
// field list); endField patches its length.
func beginField(b []byte, tag byte) ([]byte, int) {
	b = append(b, tag, 0, 0)
	return b, len(b)
}

func endField(b []byte, start int) []byte {
	binary.BigEndian.PutUint16(b[start-2:], uint16(len(b)-start))
	return b
}

// fields iterates over a field list.
type fields struct {
	b   []byte
	err error
}

// next returns the next field; ok is false at the end or on a truncated
// field, which sets f.err.
func (f *fields) next() (tag byte, value []byte, ok bool) {
	if len(f.b) == 0 || f.err != nil {
		return 0, nil, false
	}
	if len(f.b) < 3 {
		f.err = fmt.Errorf("field header of %d bytes: %w", len(f.b), errMalformed)
		return 0, nil, false
	}
	tag = f.b[0]
	n := int(binary.BigEndian.Uint16(f.b[1:]))
	if len(f.b) < 3+n {
		f.err = fmt.Errorf("field %d: %d of %d bytes: %w", tag, len(f.b)-3, n, errMalformed)
		return 0, nil, false
	}
	value, f.b = f.b[3:3+n], f.b[3+n:]
	return tag, value, true
}

func fieldUint8(tag byte, v []byte) (byte, error) {
	if len(v) != 1 {
		return 0, fmt.Errorf("field %d: %d bytes, want 1: %w", tag, len(v), errMalformed)
	}
	return v[0], nil
}

func fieldUint16(tag byte, v []byte) (uint16, error) {
	if len(v) != 2 {
		return 0, fmt.Errorf("field %d: %d bytes, want 2: %w", tag, len(v), errMalformed)
	}
	return binary.BigEndian.Uint16(v), nil
}

func fieldUint32(tag byte, v []byte) (uint32, error) {
	if len(v) != 4 {
		return 0, fmt.Errorf("field %d: %d bytes, want 4: %w", tag, len(v), errMalformed)
	}
	return binary.BigEndian.Uint32(v), nil
}

// appendExtReply appends a reply header and body.
func appendExtReply(b []byte, code byte, status Status, body []byte) []byte {
	b = append(b, code, ExtVersion, byte(status))
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// extReply is a decoded reply header plus its field list.
type extReply struct {
	code    byte
	version byte
	status  Status
	body    []byte
}

// message returns the MESSAGE field of a reply body, if any.
func (r extReply) message() string {
	f := fields{b: r.body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		if tag == tagMessage {
			return string(v)
		}
	}
	return ""
}

// StatusError is returned by the client when an extension request gets a
// non-OK status.
type StatusError struct {
	Op      string
	Status  Status
	Message string
}

// Error describes the refusal.
func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("epmd: %s: %s: %s", e.Op, e.Status, e.Message)
	}
	return fmt.Sprintf("epmd: %s: %s", e.Op, e.Status)
}
