package abi

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestRouteBytes(t *testing.T) {
	r := Route{Kind: RouteVia, Site: "s", Transport: "tls", Options: Options{LivenessTimeoutMS: 0x0201, TickMS: 5, Priority: -1, Filter: true}, CacheMS: 60000}
	want := []byte{
		Version, byte(TypeRoute),
		tagRtKind, 1, 0, 0, 0, byte(RouteVia),
		tagRtSite, 1, 0, 0, 0, 's',
		tagRtTransport, 3, 0, 0, 0, 't', 'l', 's',
		tagRtLiveness, 4, 0, 0, 0, 0x01, 0x02, 0, 0,
		tagRtTick, 4, 0, 0, 0, 5, 0, 0, 0,
		tagRtPriority, 4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
		tagRtCache, 4, 0, 0, 0, 0x60, 0xea, 0, 0,
		tagRtFilter, 1, 0, 0, 0, 1,
	}
	got := r.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("Append =\n% x\nwant\n% x", got, want)
	}
	back, err := ParseRoute(got)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("ParseRoute = %+v, %v; want %+v", back, err, r)
	}
}

func TestRouteEmptyDenies(t *testing.T) {
	r, err := ParseRoute([]byte{Version, byte(TypeRoute)})
	if err != nil || r.Kind != RouteDeny {
		t.Fatalf("ParseRoute(header only) = %+v, %v; want a deny", r, err)
	}
}

func TestParseRouteTruncated(t *testing.T) {
	r := Local(Endpoint{Proto: "inet_tcp", Port: 1, Addr: netip.MustParseAddr("::1")}, Endpoint{Proto: "uds", Family: FamilyLocal, Path: "/s"})
	r.Reason = "pinned"
	r.Options.TickMS = 15000
	r.CacheMS = 1000
	checkTruncated(t, r.Append(nil), func(b []byte) error { _, err := ParseRoute(b); return err })
}

func TestParseRouteTooManyEndpoints(t *testing.T) {
	eps := make([]Endpoint, MaxEndpoints+1)
	for i := range eps {
		eps[i] = Endpoint{Proto: "inet_tcp", Port: uint16(i + 1)}
	}
	r := Local(eps...)
	if _, err := ParseRoute(r.Append(nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseRoute(%d endpoints) err = %v, want ErrMalformed", len(eps), err)
	}
}

func TestRouteValidate(t *testing.T) {
	good := []Route{
		Deny("no"),
		Local(),
		Local(Endpoint{Proto: "inet_tcp", Port: 4000}, Endpoint{Proto: "uds", Family: FamilyLocal, Path: "/s"}),
		Via("eu", TransportQUIC),
		Via("eu", ""),
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", r, err)
		}
	}
	bad := map[string]Route{
		"unknown kind":        {Kind: 9},
		"via without site":    Via("", TransportTLS),
		"via over udp":        Via("eu", "udp"),
		"endpoint no proto":   Local(Endpoint{Port: 1}),
		"endpoint no port":    Local(Endpoint{Proto: "inet_tcp"}),
		"local without path":  Local(Endpoint{Proto: "uds", Family: FamilyLocal}),
		"unknown family":      Local(Endpoint{Proto: "x", Port: 1, Family: 9}),
		"deny with endpoints": {Kind: RouteDeny, Endpoints: []Endpoint{{Proto: "x", Port: 1}}},
		"long reason":         Deny(strings.Repeat("x", MaxStringLen+1)),
	}
	for name, r := range bad {
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, r := range []Route{
		Deny("because"),
		Via("eu-west", TransportTLS),
		{Kind: RouteLocal, Endpoints: []Endpoint{{Proto: "inet_tcp", Port: 9, Addr: netip.MustParseAddr("1.2.3.4"), Extra: []byte("e")}}, Options: Options{Priority: 7}},
	} {
		f.Add(r.Append(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRoute(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		_ = r.Validate()
		r2, err := ParseRoute(r.Append(nil))
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded: %+v, %v; want %+v", r2, err, r)
		}
	})
}

// TestRouteNone: the route kind of revision 1 that knows no route is valid
// without a site or endpoints, and round-trips.
func TestRouteNone(t *testing.T) {
	r := None()
	if err := r.Validate(); err != nil || r.Kind.String() != "none" {
		t.Fatalf("None() = %+v: %v", r, err)
	}
	back, err := ParseRoute(r.Append(nil))
	if err != nil || back.Kind != RouteNone {
		t.Fatalf("ParseRoute = %+v, %v", back, err)
	}
	r.Endpoints = []Endpoint{{Proto: "inet_tcp", Port: 1}}
	if err := r.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("none with endpoints: %v, want ErrInvalid", err)
	}
	if err := (&Route{Kind: 4}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("kind 4: %v, want ErrInvalid", err)
	}
}
