package epmd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"
)

// parsePortPlease2 parses a PORT_PLEASE2_REQ payload (command byte
// included) and returns the name asked for.
//
// OTP strips one trailing NUL, closes on an empty name or one that holds a
// NUL, and then checks the encoding over the name plus the terminating NUL
// it has written after it: so a valid name has 1..254 code points.
func parsePortPlease2(b []byte) (string, error) {
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) <= 1 {
		return "", fmt.Errorf("epmd: port_please2: empty name: %w", errMalformed)
	}
	name := b[1:]
	if bytes.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("epmd: port_please2: name holds a NUL: %w", errMalformed)
	}
	if !utf8.Valid(name) {
		return "", fmt.Errorf("epmd: port_please2: name is not UTF-8: %w", errMalformed)
	}
	if n := utf8.RuneCount(name) + 1; n > MaxNameChars {
		return "", fmt.Errorf("epmd: port_please2: name of %d code points: %w", n-1, errMalformed)
	}
	return string(name), nil
}

// AppendPortPlease2 appends a PORT_PLEASE2_REQ payload for name.
func AppendPortPlease2(b []byte, name string) []byte {
	return append(append(b, cmdPortPlease), name...)
}

// PortInfo is what PORT_PLEASE2 tells about a registered node.
type PortInfo struct {
	Port     uint16
	NodeType byte
	Protocol byte
	HighVsn  uint16
	LowVsn   uint16
	Name     string
	Extra    []byte
}

// appendPort2Reply appends a PORT2_RESP: found, with the node's values, or
// not found ('w' 1).
func appendPort2Reply(b []byte, p *PortInfo) []byte {
	if p == nil {
		return append(b, respPort2, 1)
	}
	b = append(b, respPort2, 0)
	b = binary.BigEndian.AppendUint16(b, p.Port)
	b = append(b, p.NodeType, p.Protocol)
	b = binary.BigEndian.AppendUint16(b, p.HighVsn)
	b = binary.BigEndian.AppendUint16(b, p.LowVsn)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Name)))
	b = append(b, p.Name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Extra)))
	return append(b, p.Extra...)
}

// ParsePort2Reply parses a whole PORT2_RESP as read until close. It returns
// nil, nil when the name is not registered.
func ParsePort2Reply(b []byte) (*PortInfo, error) {
	if len(b) < 2 || b[0] != respPort2 {
		return nil, fmt.Errorf("epmd: port2 reply of %d bytes: %w", len(b), errMalformed)
	}
	if b[1] != 0 {
		return nil, nil
	}
	if len(b) < 12 {
		return nil, fmt.Errorf("epmd: port2 reply: %w", io.ErrUnexpectedEOF)
	}
	p := &PortInfo{
		Port:     binary.BigEndian.Uint16(b[2:]),
		NodeType: b[4],
		Protocol: b[5],
		HighVsn:  binary.BigEndian.Uint16(b[6:]),
		LowVsn:   binary.BigEndian.Uint16(b[8:]),
	}
	nlen := int(binary.BigEndian.Uint16(b[10:]))
	if len(b) < 12+nlen+2 {
		return nil, fmt.Errorf("epmd: port2 reply name: %w", io.ErrUnexpectedEOF)
	}
	p.Name = string(b[12 : 12+nlen])
	elen := int(binary.BigEndian.Uint16(b[12+nlen:]))
	if len(b) < 14+nlen+elen {
		return nil, fmt.Errorf("epmd: port2 reply extra: %w", io.ErrUnexpectedEOF)
	}
	p.Extra = bytes.Clone(b[14+nlen : 14+nlen+elen])
	return p, nil
}
