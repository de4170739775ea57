package main

import (
	"path"
	"testing"

	"github.com/distgate/distgate/abi"
)

const exampleConfig = `{
  "routes": [
    {"match": "db*@*.eu.example", "site": "eu-west", "transport": "quic", "tick_ms": 15000},
    {"match": "*@gw1", "local": true},
    {"match": "legacy*", "deny": "legacy nodes are retired"}
  ],
  "default": {"site": "hub", "transport": "tls"}
}`

func TestLookup(t *testing.T) {
	m, err := New([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, host string
		want       abi.Route
	}{
		{"db1", "a.eu.example", abi.Route{Kind: abi.RouteVia, Site: "eu-west", Transport: "quic", Options: abi.Options{TickMS: 15000}}},
		{"web", "gw1", abi.Local()},
		{"legacy7", "x", abi.Deny("legacy nodes are retired")},
		{"other", "us.example", abi.Via("hub", "tls")},
	} {
		got := m.Lookup(abi.LookupRequest{Name: tc.name, Host: tc.host})
		if got.Kind != tc.want.Kind || got.Site != tc.want.Site || got.Transport != tc.want.Transport ||
			got.Reason != tc.want.Reason || got.Options != tc.want.Options {
			t.Errorf("Lookup(%s@%s) = %+v, want %+v", tc.name, tc.host, got, tc.want)
		}
	}
}

// TestCacheMS: every route allows the gateway to reuse it for a minute
// unless the configuration says otherwise.
func TestCacheMS(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   uint32
	}{
		{`{"routes": [{"match": "*", "local": true}]}`, DefaultCacheMS},
		{`{"routes": [{"match": "*", "local": true}], "cache_ms": 0}`, 0},
		{`{"cache_ms": 500}`, 500}, // a denial, too
	} {
		m, err := New([]byte(tc.config))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Lookup(abi.LookupRequest{Name: "a", Host: "h"}); got.CacheMS != tc.want {
			t.Errorf("%s: CacheMS %d, want %d", tc.config, got.CacheMS, tc.want)
		}
	}
}

func TestNoDefaultDenies(t *testing.T) {
	m, err := New([]byte(`{"routes": [{"match": "a@*", "local": true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Lookup(abi.LookupRequest{Name: "b", Host: "h"}); got.Kind != abi.RouteDeny || got.Reason == "" {
		t.Errorf("unmatched = %+v, want a deny with a reason", got)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{
		`not json`,
		`{"routes": [{"match": "[", "local": true}]}`,
		`{"routes": [{"match": "a", "local": true, "site": "s"}]}`,
		`{"routes": [{"match": "a", "site": "s", "transport": "udp"}]}`,
		`{"routes": [{"match": "", "local": true}]}`,
		`{"default": {}}`,
	} {
		if _, err := New([]byte(c)); err == nil {
			t.Errorf("New(%s) succeeded", c)
		}
	}
}

// TestGlobAgreesWithPathMatch: the compiled globs answer as path.Match
// does on node names.
func TestGlobAgreesWithPathMatch(t *testing.T) {
	patterns := []string{"*", "db*", "*@gw1", "db*@*.eu.example", "a*b*c", "exact@h", "*@*", "x?y", "[ab]*", "**", "a**b"}
	nodes := []string{"", "db1@h.eu.example", "db@gw1", "x@gw1", "abc", "aXbYc", "acb", "exact@h", "exact@hh", "xzy", "a@b", "b", "db1@h1.example", "ab"}
	for _, p := range patterns {
		g := compileGlob(p)
		for _, n := range nodes {
			want, _ := path.Match(p, n)
			if got := g.match(n); got != want {
				t.Errorf("glob %q on %q: %v, path.Match says %v", p, n, got, want)
			}
		}
	}
}
