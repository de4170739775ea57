package abi

import (
	"fmt"
	"strconv"
)

// Route fields.
const (
	tagRtKind      = 1  // u8: RouteDeny 0, RouteLocal 1, RouteVia 2, RouteNone 3; absent = deny
	tagRtEndpoint  = 2  // nested endpoint (RouteLocal); repeated
	tagRtSite      = 3  // string: the peer site (RouteVia)
	tagRtTransport = 4  // string: "quic" or "tls" (RouteVia)
	tagRtReason    = 5  // string: why (RouteDeny), or a note for the log
	tagRtLiveness  = 6  // u32: liveness timeout in milliseconds; 0 = default
	tagRtTick      = 7  // u32: tick interval in milliseconds; 0 = default
	tagRtPriority  = 8  // u32: priority, an int32 in two's complement
	tagRtCache     = 9  // u32: milliseconds the host may reuse the route for the same request; 0 = never
	tagRtFilter    = 10 // u8: 1 = filter the route's relayed connections (revision 4)
)

// RouteKind says where a route leads. The zero value denies, so that an
// empty or partial answer fails closed.
type RouteKind uint8

// Route kinds.
const (
	RouteDeny  RouteKind = 0 // refuse the lookup, with a Reason
	RouteLocal RouteKind = 1 // a node of this gateway: Endpoints, or the registry's
	RouteVia   RouteKind = 2 // through the peer gateway Site over Transport
	// RouteNone knows no route: the asker resolves the host itself, the
	// classic way (its host's EPMD). Added in revision 1: a gateway of
	// revision 0 refuses it, and fails closed.
	RouteNone RouteKind = 3
)

// String returns a readable name.
func (k RouteKind) String() string {
	switch k {
	case RouteDeny:
		return "deny"
	case RouteLocal:
		return "local"
	case RouteVia:
		return "via"
	case RouteNone:
		return "none"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Transports of a RouteVia route.
const (
	TransportQUIC = "quic"
	TransportTLS  = "tls"
)

// Route is a policy's answer to a LookupRequest.
type Route struct {
	Kind RouteKind
	// Endpoints of a RouteLocal route. Empty means the registry's endpoints
	// (LookupRequest.Local).
	Endpoints []Endpoint
	Site      string // RouteVia: the name of the peer site
	Transport string // RouteVia: TransportQUIC, TransportTLS, or "" for the site's default
	Reason    string // RouteDeny: why, shown to the asker and logged
	Options   Options
	// CacheMS says that the route depends on nothing but the request: the
	// host may answer the same request (byte for byte, but for the
	// asker's source port, a new ephemeral port on every connection) with
	// it, without asking the policy, for up to this many milliseconds. 0, the default,
	// asks the policy every time: a route that depends on the time, on
	// random numbers or on what the instance remembers must leave it 0.
	CacheMS uint32
}

// Options tune the connection a route leads to. Zero means the gateway's
// default.
type Options struct {
	LivenessTimeoutMS uint32 // declare the link dead after this much silence
	TickMS            uint32 // send a tick this often (OTP's net_ticktime / 4)
	Priority          int32  // higher wins when several routes compete
	// Filter asks the gateway to decode the messages a node reached by
	// this route sends to the local node, and decide on them with the
	// filter policy (revision 4); no filter policy, no filtering.
	Filter bool
}

// Deny returns a route that refuses a lookup.
func Deny(reason string) Route { return Route{Kind: RouteDeny, Reason: reason} }

// Local returns a route to local endpoints; none means the registry's.
func Local(eps ...Endpoint) Route { return Route{Kind: RouteLocal, Endpoints: eps} }

// None returns a route that knows nothing of a name: the asker resolves
// its host the classic way.
func None() Route { return Route{Kind: RouteNone} }

// Via returns a route through a peer site over transport ("quic", "tls").
func Via(site, transport string) Route {
	return Route{Kind: RouteVia, Site: site, Transport: transport}
}

// Append appends the encoded route to b.
func (r *Route) Append(b []byte) []byte {
	b = appendHeader(b, TypeRoute)
	b = appendUint8Field(b, tagRtKind, byte(r.Kind))
	for i := range r.Endpoints {
		var start int
		b, start = beginField(b, tagRtEndpoint)
		b = endField(r.Endpoints[i].append(b), start)
	}
	if r.Site != "" {
		b = appendStringField(b, tagRtSite, r.Site)
	}
	if r.Transport != "" {
		b = appendStringField(b, tagRtTransport, r.Transport)
	}
	if r.Reason != "" {
		b = appendStringField(b, tagRtReason, r.Reason)
	}
	if r.Options.LivenessTimeoutMS != 0 {
		b = appendUint32Field(b, tagRtLiveness, r.Options.LivenessTimeoutMS)
	}
	if r.Options.TickMS != 0 {
		b = appendUint32Field(b, tagRtTick, r.Options.TickMS)
	}
	if r.Options.Priority != 0 {
		b = appendUint32Field(b, tagRtPriority, uint32(r.Options.Priority))
	}
	if r.CacheMS != 0 {
		b = appendUint32Field(b, tagRtCache, r.CacheMS)
	}
	if r.Options.Filter {
		b = appendUint8Field(b, tagRtFilter, 1)
	}
	return b
}

// ParseRoute decodes a Route. It checks structure only: call Validate
// before acting on a route a guest returned.
func ParseRoute(b []byte) (Route, error) {
	var r Route
	body, err := parseHeader(b, TypeRoute)
	if err != nil {
		return r, err
	}
	f := fields{s: body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagRtKind:
			var k byte
			k, err = fieldUint8(tag, v)
			r.Kind = RouteKind(k)
		case tagRtEndpoint:
			if len(r.Endpoints) >= MaxEndpoints {
				err = fmt.Errorf("more than %d endpoints: %w", MaxEndpoints, ErrMalformed)
				break
			}
			var e Endpoint
			e, err = parseEndpoint(v)
			r.Endpoints = append(r.Endpoints, e)
		case tagRtSite:
			r.Site = v
		case tagRtTransport:
			r.Transport = v
		case tagRtReason:
			r.Reason = v
		case tagRtLiveness:
			r.Options.LivenessTimeoutMS, err = fieldUint32(tag, v)
		case tagRtTick:
			r.Options.TickMS, err = fieldUint32(tag, v)
		case tagRtPriority:
			var p uint32
			p, err = fieldUint32(tag, v)
			r.Options.Priority = int32(p)
		case tagRtCache:
			r.CacheMS, err = fieldUint32(tag, v)
		case tagRtFilter:
			r.Options.Filter, err = fieldBool(tag, v)
		}
		if err != nil {
			return Route{}, fmt.Errorf("abi: route: %w", err)
		}
	}
	if f.err != nil {
		return Route{}, fmt.Errorf("abi: route: %w", f.err)
	}
	return r, nil
}

// Validate reports whether the gateway can act on r: a known kind, a site
// for RouteVia, a known transport, valid endpoints for RouteLocal only, and
// strings within MaxStringLen.
func (r *Route) Validate() error {
	if len(r.Site) > MaxStringLen || len(r.Transport) > MaxStringLen || len(r.Reason) > MaxStringLen {
		return fmt.Errorf("abi: route: a string is over %d bytes: %w", MaxStringLen, ErrInvalid)
	}
	switch r.Kind {
	case RouteDeny, RouteNone:
	case RouteLocal:
		if len(r.Endpoints) > MaxEndpoints {
			return fmt.Errorf("abi: route: %d endpoints, at most %d: %w", len(r.Endpoints), MaxEndpoints, ErrInvalid)
		}
		for i := range r.Endpoints {
			if err := r.Endpoints[i].Validate(); err != nil {
				return fmt.Errorf("abi: route: %w", err)
			}
		}
	case RouteVia:
		if r.Site == "" {
			return fmt.Errorf("abi: route via: no site: %w", ErrInvalid)
		}
		if r.Transport != "" && r.Transport != TransportQUIC && r.Transport != TransportTLS {
			return fmt.Errorf("abi: route via %s: transport %q, want %q or %q: %w", r.Site, r.Transport, TransportQUIC, TransportTLS, ErrInvalid)
		}
	default:
		return fmt.Errorf("abi: route: unknown %s: %w", r.Kind, ErrInvalid)
	}
	if r.Kind != RouteLocal && len(r.Endpoints) > 0 {
		return fmt.Errorf("abi: route %s: endpoints are for local routes only: %w", r.Kind, ErrInvalid)
	}
	return nil
}
