package abi

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// Asker fields (the value of a nested ASKER field).
const (
	tagAskNode     = 1 // string: the asker's own node name
	tagAskSite     = 2 // string: the peer site the request came through
	tagAskIdentity = 3 // string: the client certificate identity
	tagAskAddr     = 4 // 4 or 16 address bytes (network order), then port:u16
	tagAskLabel    = 5 // string "key=value"; repeated
)

// Asker is who asks for a decision. Every field may be empty: a local node
// on the classic EPMD port has only an address.
type Asker struct {
	Node     string         // the asker's own node name, when it told ("x@host")
	Site     string         // the peer site the request came through; "" when local
	Identity string         // the client certificate identity (CN, or a SAN URI); "" without one
	Addr     netip.AddrPort // where the request came from
	Labels   []Label        // labels the gateway attaches to the asker (region, tenant, ...)
}

// Label is a key=value attribute of an asker, from the gateway's
// configuration of its sites and identities. Keys contain no '='.
type Label struct {
	Key, Value string
}

// Label returns the value of the first label named key.
func (a *Asker) Label(key string) (string, bool) {
	for _, l := range a.Labels {
		if l.Key == key {
			return l.Value, true
		}
	}
	return "", false
}

func (a *Asker) isZero() bool {
	return a.Node == "" && a.Site == "" && a.Identity == "" && !a.Addr.IsValid() && len(a.Labels) == 0
}

// append appends a's fields (without an enclosing field header).
func (a *Asker) append(b []byte) []byte {
	if a.Node != "" {
		b = appendStringField(b, tagAskNode, a.Node)
	}
	if a.Site != "" {
		b = appendStringField(b, tagAskSite, a.Site)
	}
	if a.Identity != "" {
		b = appendStringField(b, tagAskIdentity, a.Identity)
	}
	if a.Addr.Addr().IsValid() {
		ip := a.Addr.Addr().AsSlice()
		b = append(b, tagAskAddr)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ip)+2))
		b = append(b, ip...)
		b = binary.LittleEndian.AppendUint16(b, a.Addr.Port())
	}
	for _, l := range a.Labels {
		b = append(b, tagAskLabel)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(l.Key)+1+len(l.Value)))
		b = append(b, l.Key...)
		b = append(b, '=')
		b = append(b, l.Value...)
	}
	return b
}

// parseAsker decodes the value of an ASKER field.
func parseAsker(list string) (Asker, error) {
	var a Asker
	f := fields{s: list}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagAskNode:
			a.Node = v
		case tagAskSite:
			a.Site = v
		case tagAskIdentity:
			a.Identity = v
		case tagAskAddr:
			if len(v) != 6 && len(v) != 18 {
				return Asker{}, fmt.Errorf("asker: address of %d bytes, want 6 or 18: %w", len(v), ErrMalformed)
			}
			ip, _ := parseAddr(v[:len(v)-2])
			a.Addr = netip.AddrPortFrom(ip, le16(v[len(v)-2:]))
		case tagAskLabel:
			k, val, _ := strings.Cut(v, "=")
			if a.Labels == nil {
				a.Labels = make([]Label, 0, count(list, tagAskLabel))
			}
			a.Labels = append(a.Labels, Label{Key: k, Value: val})
		}
	}
	if f.err != nil {
		return Asker{}, fmt.Errorf("asker: %w", f.err)
	}
	return a, nil
}
