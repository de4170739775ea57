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
	tagAskVerified = 6 // u32: the fields the gateway verified, a Verified (revision 2)
	tagAskRoot     = 7 // string: a trust root that verified IDENTITY; repeated (revision 2)
)

// Verified is a set of Asker fields that the gateway verified, rather than
// took as the asker told them. Added in revision 2: before it, nothing
// said, and a NODE was never verified.
type Verified uint32

// Verified fields.
const (
	// VerifiedNode: NODE is a node of the gateway's host (or of the peer
	// gateway's, for a request that came over a link): the node registered
	// under that name with the EPMD from a socket of the same owner (user)
	// as the asker's. Without it NODE is only what the asker said (a
	// send_name anyone on the host can write): the caller is
	// unauthenticated.
	VerifiedNode Verified = 1 << 0
	// VerifiedSite: SITE is a peer gateway that proved who it is with its
	// certificate.
	VerifiedSite Verified = 1 << 1
	// VerifiedIdentity: IDENTITY comes from a client certificate whose
	// chain one of the trust roots of Roots signed.
	VerifiedIdentity Verified = 1 << 2
)

// Trust roots of client identities (Asker.Roots).
const (
	RootRemote = "remote" // remote.client_ca: remote query clients
	RootPublic = "public" // public.client_ca: nodes calling the TLS termination ports
)

// Asker is who asks for a decision. Every field may be empty: a local node
// on the classic EPMD port has only an address.
type Asker struct {
	Node     string         // the asker's own node name, when it told ("x@host")
	Site     string         // the peer site the request came through; "" when local
	Identity string         // the client certificate identity (CN, or a SAN URI); "" without one
	Addr     netip.AddrPort // where the request came from
	Labels   []Label        // labels the gateway attaches to the asker (region, tenant, ...)
	// Verified says which of Node, Site and Identity the gateway verified
	// (revision 2).
	Verified Verified
	// Roots are the trust roots that verified Identity (RootRemote,
	// RootPublic), in the gateway's configuration order (revision 2). An
	// identity is a name within its roots: the same name under another
	// root is someone else.
	Roots []string
}

// HasRoot reports whether the trust root named root verified a.Identity.
func (a *Asker) HasRoot(root string) bool {
	if a.Verified&VerifiedIdentity == 0 {
		return false
	}
	for _, r := range a.Roots {
		if r == root {
			return true
		}
	}
	return false
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
	return a.Node == "" && a.Site == "" && a.Identity == "" && !a.Addr.IsValid() && len(a.Labels) == 0 &&
		a.Verified == 0 && len(a.Roots) == 0
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
	if a.Verified != 0 {
		b = appendUint32Field(b, tagAskVerified, uint32(a.Verified))
	}
	for _, r := range a.Roots {
		b = appendStringField(b, tagAskRoot, r)
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
		case tagAskVerified:
			v, err := fieldUint32(tag, v)
			if err != nil {
				return Asker{}, fmt.Errorf("asker: %w", err)
			}
			a.Verified = Verified(v)
		case tagAskRoot:
			if a.Roots == nil {
				a.Roots = make([]string, 0, count(list, tagAskRoot))
			}
			a.Roots = append(a.Roots, v)
		}
	}
	if f.err != nil {
		return Asker{}, fmt.Errorf("asker: %w", f.err)
	}
	return a, nil
}
