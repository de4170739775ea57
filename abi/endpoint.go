package abi

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Endpoint fields (the value of a nested ENDPOINT field). The tags are
// those of the EPMD extension's transport fields (epmd/PROTOCOL.md).
const (
	tagEpProto    = 1 // string: inet_tcp, inet_tls, quic, uds, ...
	tagEpPort     = 2 // u16
	tagEpPath     = 3 // string: socket path for FamilyLocal
	tagEpFamily   = 4 // u8: 1 local, 4 inet, 6 inet6
	tagEpAddr     = 5 // 4 or 16 bytes, network order
	tagEpVersions = 6 // u16 high, u16 low
	tagEpExtra    = 7 // bytes: the classic EPMD extra field
	tagEpProtoNum = 8 // u8: the classic protocol byte (0 = TCP/IP)
	tagEpNodeType = 9 // u8: 'M' (77) normal node or 'H' (72) hidden
)

// Family is the address family of an endpoint.
type Family byte

// Address families, as in the EPMD extension.
const (
	FamilyUnspec Family = 0
	FamilyLocal  Family = 1 // Unix domain socket: Path instead of Port
	FamilyInet   Family = 4
	FamilyInet6  Family = 6
)

// String returns a readable name.
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

// Endpoint is one way to reach a node: what the local registry holds for a
// registered transport, or what a policy routes to. It mirrors the EPMD
// extension's endpoint. Zero fields are absent on the wire.
type Endpoint struct {
	Proto    string     // "inet_tcp", "inet6_tcp", "inet_tls", "quic", "uds", ...
	Port     uint16     // TCP or UDP port
	Path     string     // socket path when Family is FamilyLocal
	Family   Family     // FamilyUnspec is read by the gateway as FamilyInet
	Addr     netip.Addr // zero: the address the asker reached the gateway at
	HighVsn  uint16     // distribution protocol versions; 0 = the default (6)
	LowVsn   uint16
	Extra    []byte // the classic extra field
	Protocol byte   // the classic protocol byte
	NodeType byte   // 'M' or 'H'; 0 = unknown
}

// append appends e's fields (without an enclosing field header).
func (e *Endpoint) append(b []byte) []byte {
	if e.Proto != "" {
		b = appendStringField(b, tagEpProto, e.Proto)
	}
	if e.Port != 0 {
		b = append(b, tagEpPort, 2, 0, 0, 0)
		b = binary.LittleEndian.AppendUint16(b, e.Port)
	}
	if e.Path != "" {
		b = appendStringField(b, tagEpPath, e.Path)
	}
	if e.Family != 0 {
		b = appendUint8Field(b, tagEpFamily, byte(e.Family))
	}
	if e.Addr.IsValid() {
		b = appendBytesField(b, tagEpAddr, e.Addr.AsSlice())
	}
	if e.HighVsn != 0 || e.LowVsn != 0 {
		b = append(b, tagEpVersions, 4, 0, 0, 0)
		b = binary.LittleEndian.AppendUint16(b, e.HighVsn)
		b = binary.LittleEndian.AppendUint16(b, e.LowVsn)
	}
	if len(e.Extra) > 0 {
		b = appendBytesField(b, tagEpExtra, e.Extra)
	}
	if e.Protocol != 0 {
		b = appendUint8Field(b, tagEpProtoNum, e.Protocol)
	}
	if e.NodeType != 0 {
		b = appendUint8Field(b, tagEpNodeType, e.NodeType)
	}
	return b
}

// parseEndpoint decodes the value of an ENDPOINT field.
func parseEndpoint(v string) (Endpoint, error) {
	var e Endpoint
	var err error
	f := fields{s: v}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagEpProto:
			e.Proto = v
		case tagEpPort:
			if len(v) != 2 {
				err = badSize(tag, len(v), 2)
			} else {
				e.Port = le16(v)
			}
		case tagEpPath:
			e.Path = v
		case tagEpFamily:
			var fam byte
			fam, err = fieldUint8(tag, v)
			e.Family = Family(fam)
		case tagEpAddr:
			e.Addr, err = parseAddr(v)
		case tagEpVersions:
			if len(v) != 4 {
				err = fmt.Errorf("versions of %d bytes: %w", len(v), ErrMalformed)
			} else {
				e.HighVsn, e.LowVsn = le16(v), le16(v[2:])
			}
		case tagEpExtra:
			e.Extra = nil
			if len(v) > 0 {
				e.Extra = []byte(v)
			}
		case tagEpProtoNum:
			e.Protocol, err = fieldUint8(tag, v)
		case tagEpNodeType:
			e.NodeType, err = fieldUint8(tag, v)
		}
		if err != nil {
			return Endpoint{}, fmt.Errorf("endpoint: %w", err)
		}
	}
	if f.err != nil {
		return Endpoint{}, fmt.Errorf("endpoint: %w", f.err)
	}
	return e, nil
}

// Validate reports whether e is an endpoint the gateway can answer with:
// a protocol name, and a port or (for FamilyLocal) a path.
func (e *Endpoint) Validate() error {
	switch {
	case e.Proto == "" || len(e.Proto) > MaxProtoLen:
		return fmt.Errorf("endpoint: protocol name of %d bytes (want 1..%d): %w", len(e.Proto), MaxProtoLen, ErrInvalid)
	case e.Family == FamilyLocal && e.Path == "":
		return fmt.Errorf("endpoint %s: local family without a path: %w", e.Proto, ErrInvalid)
	case e.Family != FamilyLocal && e.Port == 0:
		return fmt.Errorf("endpoint %s: no port: %w", e.Proto, ErrInvalid)
	case e.Family != FamilyUnspec && e.Family != FamilyLocal && e.Family != FamilyInet && e.Family != FamilyInet6:
		return fmt.Errorf("endpoint %s: unknown family %d: %w", e.Proto, byte(e.Family), ErrInvalid)
	case len(e.Path) > MaxStringLen || len(e.Extra) > MaxStringLen:
		return fmt.Errorf("endpoint %s: path or extra over %d bytes: %w", e.Proto, MaxStringLen, ErrInvalid)
	}
	return nil
}

// parseAddr decodes 4 or 16 address bytes.
func parseAddr(v string) (netip.Addr, error) {
	switch len(v) {
	case 4:
		return netip.AddrFrom4([4]byte{v[0], v[1], v[2], v[3]}), nil
	case 16:
		var a [16]byte
		copy(a[:], v)
		return netip.AddrFrom16(a), nil
	}
	return netip.Addr{}, fmt.Errorf("address of %d bytes: %w", len(v), ErrMalformed)
}
