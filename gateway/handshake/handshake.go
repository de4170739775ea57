// Package handshake reads the opening of Erlang's distribution handshake:
// the caller's send_name message, which tells the gateway who is calling
// before a single byte is relayed. It is pure: it parses bytes and never
// touches a socket.
//
// TCP distribution frames handshake messages with a 2-byte big-endian
// length; TLS distribution (inet_tls_dist) uses 4 bytes from the start.
// After the challenge-ack both use 4 bytes. OTP 25 sends send_name
// version 6:
//
//	'N' Flags:64 Creation:32 Nlen:16 Name
//
// and older nodes the version-5 form:
//
//	'n' Version:16 Flags:32 Name
package handshake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Message tags of send_name.
const (
	tagSendNameV5 = 'n' // 2B version, 4B flags, name
	tagSendNameV6 = 'N' // 8B flags, 4B creation, 2B nlen, name
)

// MaxSendName bounds a send_name message: the tag, flags, creation, length
// and a name of at most 255 code points of 4 bytes each, plus '@' and a
// host of the same size.
const MaxSendName = 1 + 8 + 4 + 2 + 2*255*4 + 1

// ErrNotSendName is returned when the first message is not a send_name.
var ErrNotSendName = errors.New("handshake: first message is not send_name")

// SendName is the caller's first handshake message.
type SendName struct {
	Name     string // the caller's full node name
	Flags    uint64 // distribution capability flags
	Creation uint32 // 0 in version 5
	Version  int    // 5 or 6
}

// ParseSendName parses the body of a send_name message (without its
// length prefix).
func ParseSendName(b []byte) (SendName, error) {
	if len(b) == 0 {
		return SendName{}, fmt.Errorf("%w: empty message", ErrNotSendName)
	}
	var s SendName
	var name []byte
	switch b[0] {
	case tagSendNameV6:
		if len(b) < 15 {
			return SendName{}, fmt.Errorf("handshake: send_name v6 of %d bytes: %w", len(b), io.ErrUnexpectedEOF)
		}
		s.Version = 6
		s.Flags = binary.BigEndian.Uint64(b[1:])
		s.Creation = binary.BigEndian.Uint32(b[9:])
		n := int(binary.BigEndian.Uint16(b[13:]))
		if len(b) < 15+n {
			return SendName{}, fmt.Errorf("handshake: send_name name of %d bytes, %d present: %w", n, len(b)-15, io.ErrUnexpectedEOF)
		}
		name = b[15 : 15+n]
	case tagSendNameV5:
		if len(b) < 7 {
			return SendName{}, fmt.Errorf("handshake: send_name v5 of %d bytes: %w", len(b), io.ErrUnexpectedEOF)
		}
		s.Version = 5
		s.Flags = uint64(binary.BigEndian.Uint32(b[3:]))
		name = b[7:]
	default:
		return SendName{}, fmt.Errorf("%w: tag %q", ErrNotSendName, b[0])
	}
	if len(name) == 0 || !utf8.Valid(name) {
		return SendName{}, fmt.Errorf("handshake: send_name with an empty or non-UTF-8 name")
	}
	s.Name = string(name)
	return s, nil
}

// AppendSendNameV6 appends a version-6 send_name body.
func AppendSendNameV6(b []byte, s SendName) []byte {
	b = append(b, tagSendNameV6)
	b = binary.BigEndian.AppendUint64(b, s.Flags)
	b = binary.BigEndian.AppendUint32(b, s.Creation)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Name)))
	return append(b, s.Name...)
}

// ReadFrame reads one handshake message framed with a lenSize-byte length
// (2 for TCP distribution, 4 for TLS distribution), refusing messages over
// max bytes. It returns the whole frame, prefix included, so that the
// caller can relay it unchanged, and the body.
func ReadFrame(r io.Reader, lenSize, max int) (frame, body []byte, err error) {
	if lenSize != 2 && lenSize != 4 {
		return nil, nil, fmt.Errorf("handshake: length prefix of %d bytes", lenSize)
	}
	hdr := make([]byte, lenSize, lenSize+64)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, nil, fmt.Errorf("handshake: reading the length: %w", err)
	}
	var n int
	if lenSize == 2 {
		n = int(binary.BigEndian.Uint16(hdr))
	} else {
		n = int(binary.BigEndian.Uint32(hdr))
	}
	if n > max {
		return nil, nil, fmt.Errorf("handshake: message of %d bytes exceeds %d", n, max)
	}
	frame = append(hdr, make([]byte, n)...)
	if _, err := io.ReadFull(r, frame[lenSize:]); err != nil {
		return nil, nil, fmt.Errorf("handshake: reading a %d-byte message: %w", n, err)
	}
	return frame, frame[lenSize:], nil
}
