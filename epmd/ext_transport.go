package epmd

import (
	"bytes"
	"fmt"
	"net/netip"
)

// Family is the address family of a transport.
type Family byte

// Address families. The values are the ones of the FAMILY field.
const (
	FamilyUnspec Family = 0
	FamilyLocal  Family = 1 // Unix domain socket: PATH instead of PORT
	FamilyInet   Family = 4
	FamilyInet6  Family = 6
)

// String names the family.
func (f Family) String() string {
	switch f {
	case FamilyLocal:
		return "local"
	case FamilyInet:
		return "inet"
	case FamilyInet6:
		return "inet6"
	}
	return "unspec"
}

// Transport fields (nested in TRANSPORT and ENDPOINT).
const (
	tagTrProto    = 1 // string: inet_tcp, inet_tls, quic, uds, ...
	tagTrPort     = 2 // uint16
	tagTrPath     = 3 // string: socket path for FamilyLocal
	tagTrFamily   = 4 // uint8: 1 local, 4 inet, 6 inet6
	tagTrAddr     = 5 // 4 or 16 bytes; absent = the address the asker used
	tagTrVersions = 6 // uint16 high, uint16 low
	tagTrExtra    = 7 // bytes, as the classic extra field
	tagTrProtoNum = 8 // uint8: the classic protocol byte (0 = TCP/IP)
	tagTrNodeType = 9 // uint8 (endpoints only): 'M' or 'H'
)

// Limits of extension fields.
const (
	MaxTransports = 32  // transports per node
	MaxProtoLen   = 32  // bytes of a protocol name
	MaxPathLen    = 107 // bytes of a Unix socket path (sun_path minus NUL)
)

// Transport is one way to reach a node: a protocol name and where it
// listens.
type Transport struct {
	Proto    string // "inet_tcp", "inet6_tcp", "inet_tls", "quic", "uds", ...
	Port     uint16
	Path     string     // socket path when Family is FamilyLocal
	Family   Family     // FamilyInet when zero on the wire
	Addr     netip.Addr // zero: the address the asker reached epmd at
	HighVsn  uint16     // 6 when absent
	LowVsn   uint16     // 6 when absent
	Extra    []byte
	Protocol byte // classic protocol byte, reported by PORT_PLEASE2
}

// IsTCP reports whether a stock TCP-distribution node can dial t: it is
// what PORT_PLEASE2 prefers.
func (t Transport) IsTCP() bool { return t.Proto == "inet_tcp" || t.Proto == "inet6_tcp" }

func (t Transport) appendFields(b []byte) []byte {
	b = appendStringField(b, tagTrProto, t.Proto)
	if t.Family == FamilyLocal {
		b = appendStringField(b, tagTrPath, t.Path)
	} else {
		b = appendUint16Field(b, tagTrPort, t.Port)
	}
	b = appendUint8Field(b, tagTrFamily, byte(t.Family))
	if t.Addr.IsValid() {
		b = appendField(b, tagTrAddr, t.Addr.AsSlice())
	}
	b = append(b, tagTrVersions, 0, 4, byte(t.HighVsn>>8), byte(t.HighVsn), byte(t.LowVsn>>8), byte(t.LowVsn))
	if len(t.Extra) > 0 {
		b = appendField(b, tagTrExtra, t.Extra)
	}
	if t.Protocol != 0 {
		b = appendUint8Field(b, tagTrProtoNum, t.Protocol)
	}
	return b
}

// parseTransport decodes a TRANSPORT or ENDPOINT field list. nodeType is
// set when the list carries tagTrNodeType.
func parseTransport(v []byte) (t Transport, nodeType byte, err error) {
	t.Family, t.HighVsn, t.LowVsn = FamilyInet, 6, 6
	var hasPort bool
	f := fields{b: v}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagTrProto:
			t.Proto = string(v)
		case tagTrPort:
			t.Port, err = fieldUint16(tag, v)
			hasPort = true
		case tagTrPath:
			t.Path = string(v)
		case tagTrFamily:
			var fam byte
			fam, err = fieldUint8(tag, v)
			t.Family = Family(fam)
		case tagTrAddr:
			a, ok := netip.AddrFromSlice(v)
			if !ok {
				err = fmt.Errorf("address of %d bytes: %w", len(v), errMalformed)
			}
			t.Addr = a
		case tagTrVersions:
			if len(v) != 4 {
				err = fmt.Errorf("versions of %d bytes: %w", len(v), errMalformed)
			} else {
				t.HighVsn, t.LowVsn = uint16(v[0])<<8|uint16(v[1]), uint16(v[2])<<8|uint16(v[3])
			}
		case tagTrExtra:
			if len(v) > 0 {
				t.Extra = bytes.Clone(v)
			}
		case tagTrProtoNum:
			t.Protocol, err = fieldUint8(tag, v)
		case tagTrNodeType:
			nodeType, err = fieldUint8(tag, v)
		}
		if err != nil {
			return Transport{}, 0, fmt.Errorf("transport: %w", err)
		}
	}
	if f.err != nil {
		return Transport{}, 0, fmt.Errorf("transport: %w", f.err)
	}
	if err := t.validate(hasPort); err != nil {
		return Transport{}, 0, err
	}
	// A socket path has no port and a port no socket path: the field that
	// does not fit the family is ignored.
	if t.Family == FamilyLocal {
		t.Port = 0
	} else {
		t.Path = ""
	}
	return t, nodeType, nil
}

func (t Transport) validate(hasPort bool) error {
	if t.Proto == "" || len(t.Proto) > MaxProtoLen {
		return fmt.Errorf("transport: protocol name of %d bytes (want 1..%d): %w", len(t.Proto), MaxProtoLen, errMalformed)
	}
	for i := 0; i < len(t.Proto); i++ {
		c := t.Proto[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("transport: protocol name %q: only a-z, 0-9 and _ allowed: %w", t.Proto, errMalformed)
		}
	}
	switch t.Family {
	case FamilyLocal:
		if t.Path == "" || len(t.Path) > MaxPathLen {
			return fmt.Errorf("transport %s: socket path of %d bytes (want 1..%d): %w", t.Proto, len(t.Path), MaxPathLen, errMalformed)
		}
	case FamilyInet, FamilyInet6:
		if !hasPort {
			return fmt.Errorf("transport %s: no port: %w", t.Proto, errMalformed)
		}
		if t.Addr.IsValid() && (t.Addr.Is4() != (t.Family == FamilyInet)) {
			return fmt.Errorf("transport %s: address %s is not of family %s: %w", t.Proto, t.Addr, t.Family, errMalformed)
		}
	default:
		return fmt.Errorf("transport %s: unknown family %d: %w", t.Proto, byte(t.Family), errMalformed)
	}
	if len(t.Extra) > MaxSymLen {
		return fmt.Errorf("transport %s: extra of %d bytes exceeds %d: %w", t.Proto, len(t.Extra), MaxSymLen, errMalformed)
	}
	return nil
}

// portInfo returns what PORT_PLEASE2 reports for a node reached by t.
func (t Transport) portInfo(name string, nodeType byte) *PortInfo {
	return &PortInfo{
		Port: t.Port, NodeType: nodeType, Protocol: t.Protocol,
		HighVsn: t.HighVsn, LowVsn: t.LowVsn, Name: name, Extra: t.Extra,
	}
}
