package main

import (
	"testing"

	"github.com/distgate/distgate/abi"
)

const exampleConfig = `{"sites": {"eu": "eu-west", "us": "us-east"}, "fallback": "eu-west", "transport": "quic"}`

func TestLookup(t *testing.T) {
	p, err := New([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	asker := func(region string) abi.Asker {
		return abi.Asker{Labels: []abi.Label{{Key: "tier", Value: "x"}, {Key: "region", Value: region}}}
	}
	for _, tc := range []struct {
		req  abi.LookupRequest
		want abi.Route
	}{
		{abi.LookupRequest{Name: "db", Host: "h", Asker: asker("us")}, abi.Via("us-east", "quic")},
		{abi.LookupRequest{Name: "db", Host: "h", Asker: asker("eu")}, abi.Via("eu-west", "quic")},
		{abi.LookupRequest{Name: "db", Host: "h", Asker: asker("ap")}, abi.Via("eu-west", "quic")},
		{abi.LookupRequest{Name: "db", Host: "h"}, abi.Via("eu-west", "quic")},
		{abi.LookupRequest{Name: "db", LocalHost: true, Registered: true, Asker: asker("us")}, abi.Local()},
	} {
		got := p.Lookup(tc.req)
		if got.Kind != tc.want.Kind || got.Site != tc.want.Site || got.Transport != tc.want.Transport {
			t.Errorf("Lookup(%+v) = %+v, want %+v", tc.req, got, tc.want)
		}
	}
}

func TestNoFallbackDenies(t *testing.T) {
	p, err := New([]byte(`{"label": "zone", "sites": {"a": "site-a"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Lookup(abi.LookupRequest{Name: "x"}); got.Kind != abi.RouteDeny {
		t.Errorf("no label, no fallback = %+v, want a deny", got)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{`[]`, `{}`, `{"fallback": "a", "transport": "tcp"}`} {
		if _, err := New([]byte(c)); err == nil {
			t.Errorf("New(%s) succeeded", c)
		}
	}
}
