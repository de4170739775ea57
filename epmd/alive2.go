package epmd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Alive2 is an ALIVE2_REQ: a node registering its name and listen port.
type Alive2 struct {
	Port     uint16
	NodeType byte
	Protocol byte
	HighVsn  uint16
	LowVsn   uint16
	Name     string
	Extra    []byte
}

// parseAlive2 parses the payload of an ALIVE2_REQ (command byte included).
// It applies OTP's silent-close checks in OTP's order; the checks that OTP
// answers with an error reply (name length and encoding, extra length) are
// left to validate.
func parseAlive2(b []byte) (Alive2, error) {
	// OTP: "bsize <= 13" -> close; at least one byte of name.
	if len(b) <= 13 {
		return Alive2{}, fmt.Errorf("epmd: alive2: %d bytes: %w", len(b), errMalformed)
	}
	a := Alive2{
		Port:     binary.BigEndian.Uint16(b[1:]),
		NodeType: b[3],
		Protocol: b[4],
		HighVsn:  binary.BigEndian.Uint16(b[5:]),
		LowVsn:   binary.BigEndian.Uint16(b[7:]),
	}
	nlen := int(binary.BigEndian.Uint16(b[9:]))
	if nlen+13 > len(b) {
		return Alive2{}, fmt.Errorf("epmd: alive2: name length %d beyond request: %w", nlen, errMalformed)
	}
	elen := int(binary.BigEndian.Uint16(b[11+nlen:]))
	if elen+nlen+13 > len(b) {
		return Alive2{}, fmt.Errorf("epmd: alive2: extra length %d beyond request: %w", elen, errMalformed)
	}
	name := b[11 : 11+nlen]
	if bytes.IndexByte(name, 0) >= 0 {
		return Alive2{}, fmt.Errorf("epmd: alive2: name holds a NUL: %w", errMalformed)
	}
	a.Name = string(name)
	a.Extra = bytes.Clone(b[13+nlen : 13+nlen+elen])
	return a, nil
}

// validate applies the checks that OTP answers with an error reply rather
// than a silent close.
func (a Alive2) validate() error {
	return validateName(a.Name, a.Extra)
}

// validateName checks a name and extra field as OTP's node_reg2 does.
func validateName(name string, extra []byte) error {
	if len(name) > MaxSymLen {
		return fmt.Errorf("epmd: name is %d bytes, longer than %d: %w", len(name), MaxSymLen, ErrBadName)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("epmd: name is not UTF-8: %w", ErrBadName)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameChars {
		return fmt.Errorf("epmd: name is %d code points, longer than %d: %w", n, MaxNameChars, ErrBadName)
	}
	if len(extra) > MaxSymLen {
		return fmt.Errorf("epmd: extra is %d bytes, longer than %d: %w", len(extra), MaxSymLen, ErrBadName)
	}
	return nil
}

// Append appends the ALIVE2_REQ payload (without the length prefix).
func (a Alive2) Append(b []byte) []byte {
	b = append(b, cmdAlive2)
	b = binary.BigEndian.AppendUint16(b, a.Port)
	b = append(b, a.NodeType, a.Protocol)
	b = binary.BigEndian.AppendUint16(b, a.HighVsn)
	b = binary.BigEndian.AppendUint16(b, a.LowVsn)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.Name)))
	b = append(b, a.Name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.Extra)))
	return append(b, a.Extra...)
}

// appendAlive2Reply appends the reply to an ALIVE2_REQ. Nodes that speak
// version 6 or later get ALIVE2_X_RESP with the 32-bit creation; older ones
// get ALIVE2_RESP with a creation in 1..3.
func appendAlive2Reply(b []byte, highVsn uint16, ok bool, counter uint32) []byte {
	result := byte(0)
	if !ok {
		result = 1
	}
	if highVsn >= 6 {
		if !ok {
			counter = aliveErrorCreation
		}
		b = append(b, respAlive2X, result)
		return binary.BigEndian.AppendUint32(b, counter)
	}
	creation := uint16(aliveErrorCreation)
	if ok {
		creation = uint16(counter%3 + 1)
	}
	b = append(b, respAlive2, result)
	return binary.BigEndian.AppendUint16(b, creation)
}

// Alive2Reply is a parsed ALIVE2_RESP or ALIVE2_X_RESP.
type Alive2Reply struct {
	Result   byte
	Creation uint32
}

// ParseAlive2Reply parses the reply to an ALIVE2_REQ, as OTP's client does:
// exactly 4 bytes of 'y' or 6 bytes of 'v'.
func ParseAlive2Reply(b []byte) (Alive2Reply, error) {
	switch {
	case len(b) == 4 && b[0] == respAlive2:
		return Alive2Reply{Result: b[1], Creation: uint32(binary.BigEndian.Uint16(b[2:]))}, nil
	case len(b) == 6 && b[0] == respAlive2X:
		return Alive2Reply{Result: b[1], Creation: binary.BigEndian.Uint32(b[2:])}, nil
	}
	return Alive2Reply{}, fmt.Errorf("epmd: alive2 reply of %d bytes: %w", len(b), errMalformed)
}
