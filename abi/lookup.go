package abi

import "fmt"

// LookupRequest fields.
const (
	tagLkName   = 1 // string: the node name without the host
	tagLkHost   = 2 // string: the host part; absent for a bare name
	tagLkAccept = 3 // string: a protocol the asker accepts; repeated, preferred first
	tagLkFlags  = 4 // u32: FlagLocalHost | FlagRegistered | FlagClassic
	tagLkLocal  = 5 // nested endpoint: the registry's view of the name; repeated
	tagLkAsker  = 6 // nested asker
)

// Bits of the FLAGS field of a LookupRequest.
const (
	FlagLocalHost  = 1 << 0 // Host names this gateway's host (or was empty)
	FlagRegistered = 1 << 1 // Name is registered in the local registry
	FlagClassic    = 1 << 2 // a classic PORT_PLEASE2: no host, no accept list
)

// LookupRequest asks a policy where a node name leads. It mirrors the EPMD
// server's resolver query.
type LookupRequest struct {
	Name   string   // the node name without the host ("db" of "db@h1")
	Host   string   // the host part; "" when the asker gave a bare name
	Accept []string // distribution protocols the asker accepts, preferred first; nil = any
	Asker  Asker    // who asks
	// LocalHost reports whether Host names this gateway's host (or was
	// empty); Registered whether Name is registered here. Local is the
	// registry's endpoints for Name, filtered by Accept.
	LocalHost  bool
	Registered bool
	Local      []Endpoint
	// Classic is set for a classic PORT_PLEASE2, which has no host and no
	// accept list.
	Classic bool
}

// Node returns the full node name asked for: "name@host", or the bare name.
func (r *LookupRequest) Node() string {
	if r.Host == "" {
		return r.Name
	}
	return r.Name + "@" + r.Host
}

// Append appends the encoded request to b.
func (r *LookupRequest) Append(b []byte) []byte {
	b = appendHeader(b, TypeLookupRequest)
	if r.Name != "" {
		b = appendStringField(b, tagLkName, r.Name)
	}
	if r.Host != "" {
		b = appendStringField(b, tagLkHost, r.Host)
	}
	for _, p := range r.Accept {
		b = appendStringField(b, tagLkAccept, p)
	}
	var flags uint32
	if r.LocalHost {
		flags |= FlagLocalHost
	}
	if r.Registered {
		flags |= FlagRegistered
	}
	if r.Classic {
		flags |= FlagClassic
	}
	b = appendUint32Field(b, tagLkFlags, flags)
	for i := range r.Local {
		var start int
		b, start = beginField(b, tagLkLocal)
		b = endField(r.Local[i].append(b), start)
	}
	if !r.Asker.isZero() {
		var start int
		b, start = beginField(b, tagLkAsker)
		b = endField(r.Asker.append(b), start)
	}
	return b
}

// ParseLookupRequest decodes a LookupRequest.
func ParseLookupRequest(b []byte) (LookupRequest, error) {
	var r LookupRequest
	body, err := parseHeader(b, TypeLookupRequest)
	if err != nil {
		return r, err
	}
	f := fields{s: body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagLkName:
			r.Name = v
		case tagLkHost:
			r.Host = v
		case tagLkAccept:
			if r.Accept == nil {
				r.Accept = make([]string, 0, count(body, tagLkAccept))
			}
			r.Accept = append(r.Accept, v)
		case tagLkFlags:
			var flags uint32
			flags, err = fieldUint32(tag, v)
			r.LocalHost = flags&FlagLocalHost != 0
			r.Registered = flags&FlagRegistered != 0
			r.Classic = flags&FlagClassic != 0
		case tagLkLocal:
			var e Endpoint
			e, err = parseEndpoint(v)
			if r.Local == nil {
				r.Local = make([]Endpoint, 0, count(body, tagLkLocal))
			}
			r.Local = append(r.Local, e)
		case tagLkAsker:
			r.Asker, err = parseAsker(v)
		}
		if err != nil {
			return LookupRequest{}, fmt.Errorf("abi: lookup request: %w", err)
		}
	}
	if f.err != nil {
		return LookupRequest{}, fmt.Errorf("abi: lookup request: %w", f.err)
	}
	return r, nil
}
