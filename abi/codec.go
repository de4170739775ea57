package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message framing. Integers are little-endian, the byte order of
// WebAssembly's loads and stores, so that a guest reads them with one
// i32.load:
//
//	message = version:u8 type:u8 field*
//	field   = tag:u8 len:u32 value[len]
//
// A nested message (an endpoint, an asker) is a field whose value is a
// field list. Readers skip tags they do not know; a scalar field given twice
// keeps its last value; repeated fields are lists, in order.
const (
	headerLen      = 2 // version, type
	fieldHeaderLen = 5 // tag, len:u32
)

// Type is the type byte of a message.
type Type byte

// Message types.
const (
	TypeLookupRequest    Type = 1 // host -> guest, argument of distgate_lookup
	TypeRoute            Type = 2 // guest -> host, result of distgate_lookup
	TypeAuthorizeRequest Type = 3 // host -> guest, argument of distgate_authorize
	TypeDecision         Type = 4 // guest -> host, result of distgate_authorize
	TypeFilterRequest    Type = 5 // host -> guest, argument of distgate_filter (revision 4)
	TypeVerdict          Type = 6 // guest -> host, result of distgate_filter (revision 4)
)

// String returns a readable name.
func (t Type) String() string {
	switch t {
	case TypeLookupRequest:
		return "lookup request"
	case TypeRoute:
		return "route"
	case TypeAuthorizeRequest:
		return "authorize request"
	case TypeDecision:
		return "decision"
	case TypeFilterRequest:
		return "filter request"
	case TypeVerdict:
		return "verdict"
	}
	return fmt.Sprintf("type %d", byte(t))
}

// ErrMalformed is wrapped by every Parse error: the bytes are not a
// well-formed message of the expected type.
var ErrMalformed = errors.New("malformed message")

// ErrInvalid is wrapped by Validate errors: the message is well formed but
// says something the host cannot act on.
var ErrInvalid = errors.New("invalid message")

func appendHeader(b []byte, t Type) []byte { return append(b, Version, byte(t)) }

// parseHeader checks the header of b and returns its field list as a
// string, the one copy a parser makes.
func parseHeader(b []byte, want Type) (string, error) {
	if len(b) < headerLen {
		return "", fmt.Errorf("abi: %s: header of %d bytes: %w", want, len(b), ErrMalformed)
	}
	if b[0] != Version {
		return "", fmt.Errorf("abi: %s: version %d, want %d: %w", want, b[0], Version, ErrMalformed)
	}
	if Type(b[1]) != want {
		return "", fmt.Errorf("abi: %s: got a %s: %w", want, Type(b[1]), ErrMalformed)
	}
	return string(b[headerLen:]), nil
}

func appendBytesField(b []byte, tag byte, v []byte) []byte {
	b = append(b, tag)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func appendStringField(b []byte, tag byte, s string) []byte {
	b = append(b, tag)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendUint8Field(b []byte, tag, v byte) []byte { return append(b, tag, 1, 0, 0, 0, v) }

func appendUint32Field(b []byte, tag byte, v uint32) []byte {
	b = append(b, tag, 4, 0, 0, 0)
	return binary.LittleEndian.AppendUint32(b, v)
}

// beginField starts a nested field; endField patches its length.
func beginField(b []byte, tag byte) ([]byte, int) {
	b = append(b, tag, 0, 0, 0, 0)
	return b, len(b)
}

func endField(b []byte, start int) []byte {
	binary.LittleEndian.PutUint32(b[start-4:], uint32(len(b)-start))
	return b
}

// fields iterates over a field list. It works on a string: a parser
// converts the message once, and every string value is a substring of it,
// with no copy or allocation of its own.
type fields struct {
	s   string
	err error
}

// next returns the next field; ok is false at the end or on a truncated
// field, which sets f.err. It is small enough to be inlined: parsing is
// most of a Go guest's work.
func (f *fields) next() (tag byte, value string, ok bool) {
	s := f.s
	if len(s) < fieldHeaderLen {
		if len(s) != 0 {
			f.truncated()
		}
		return 0, "", false
	}
	n := int(le32(s[1:]))
	if n < 0 || n > len(s)-fieldHeaderLen {
		f.truncated()
		return 0, "", false
	}
	f.s = s[fieldHeaderLen+n:]
	return s[0], s[fieldHeaderLen : fieldHeaderLen+n], true
}

// truncated records why the rest of the list cannot be read, and ends it.
func (f *fields) truncated() {
	if len(f.s) < fieldHeaderLen {
		f.err = fmt.Errorf("field header of %d bytes: %w", len(f.s), ErrMalformed)
	} else {
		f.err = fmt.Errorf("field %d: %d of %d bytes: %w", f.s[0], len(f.s)-fieldHeaderLen, le32(f.s[1:]), ErrMalformed)
	}
	f.s = ""
}

// count returns how many fields of a well-formed prefix of list have tag:
// a parser sizes a repeated field's slice with it, in one allocation.
func count(list string, tag byte) int {
	n := 0
	for len(list) >= fieldHeaderLen {
		l := int(le32(list[1:]))
		if l < 0 || l > len(list)-fieldHeaderLen {
			break
		}
		if list[0] == tag {
			n++
		}
		list = list[fieldHeaderLen+l:]
	}
	return n
}

func le16(s string) uint16 { return uint16(s[0]) | uint16(s[1])<<8 }

func le32(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func fieldUint8(tag byte, v string) (byte, error) {
	if len(v) != 1 {
		return 0, badSize(tag, len(v), 1)
	}
	return v[0], nil
}

func fieldUint32(tag byte, v string) (uint32, error) {
	if len(v) != 4 {
		return 0, badSize(tag, len(v), 4)
	}
	return le32(v), nil
}

// badSize is the error of a fixed-size field of another size. It is apart
// so that the field decoders are inlined.
func badSize(tag byte, got, want int) error {
	return fmt.Errorf("field %d: %d bytes, want %d: %w", tag, got, want, ErrMalformed)
}

func fieldBool(tag byte, v string) (bool, error) {
	u, err := fieldUint8(tag, v)
	if err == nil && u > 1 {
		err = fmt.Errorf("field %d: boolean %d: %w", tag, u, ErrMalformed)
	}
	return u == 1, err
}
