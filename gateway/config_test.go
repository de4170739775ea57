package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.WithDefaults()
	if d.Site != DefaultSite || d.EPMD.Listen != DefaultEPMDListen || d.Admin.Listen != DefaultAdminListen ||
		d.Links.QUIC != "127.0.0.1:4371" || d.Proxy.Idle.Std() != DefaultProxyIdle || d.Policy.Lookup != DefaultLookupPolicy ||
		d.Policy.Authorize != DefaultAuthorizePolicy || d.Policy.OnFailure != onFailureDeny || d.DataDir == "" {
		t.Fatalf("defaults: %+v", d)
	}
	off, _ := ParseConfig([]byte("links: {off: true}"))
	if d := off.WithDefaults(); d.Links.QUIC != "" || d.Links.TLS != "" {
		t.Fatalf("links off: %+v", d.Links)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"admin: {listen: 0.0.0.0:1}", "loopback only"},
		{"proxy: {address: 10.0.0.1}", "loopback"},
		{"peers: [{site: b, quic: 'x:1'}]", "identity"},
		{"peers: [{site: b, identity: 'dg1:xx', quic: 'x:1'}]", "52 base32"},
		{"peers: [{site: b, ca: c.pem}]", "quic or tls address"},
		{"routes: [{match: '*', site: nowhere}]", "not a configured peer"},
		{"routes: [{match: '[', site: local}]", "syntax error"},
		{"routes: [{match: '*', site: local, deny: x}]", "either denies"},
		{"routes: [{match: '*', transport: udp}]", "quic or tls"},
		{"policy: {on_failure: maybe}", "deny or default"},
		{"acme: {names: [localhost]}", "not a DNS name"},
		{"acme: {challenge: dns-01}", "tls-alpn-01 or http-01"},
		{"routes: [{match: '*', liveness: -1s}]", "negative"},
		{"site: 'a b'", "letters"},
		{"epmd: {listen: nope}", "host:port"},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.yaml, err, tc.want)
		}
	}
}

func TestStaticRouter(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
peers: [{site: b, quic: 'x:1', identity: dg1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}]
routes:
  - {match: "*@*.b.example", site: b, liveness: 3s, tick: 1s}
  - {match: "old*", deny: retired}
  - {match: "*@pinned.example", site: local, priority: 5}
public: {export: ["web*"], names: true}
remote: {allow: [{identity: "ops-*", nodes: ["*"], list: true}, {identity: app, nodes: ["web*"]}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := newStaticRouter(cfg.WithDefaults())
	ctx := context.Background()
	for _, tc := range []struct {
		node  string
		local bool
		want  RouteKind
	}{
		{"y@h.b.example", false, RouteVia},
		{"old1@anywhere", true, RouteDeny},
		{"x@pinned.example", false, RouteLocal},
		{"x@elsewhere", false, RouteNone},
		{"x@here", true, RouteLocal},
	} {
		name, host := epmd.SplitNode(tc.node)
		rt := r.Lookup(ctx, LookupInput{Node: tc.node, Name: name, Host: host, LocalHost: tc.local})
		if rt.Kind != tc.want {
			t.Errorf("%s: %v, want %v", tc.node, rt.Kind, tc.want)
		}
		if tc.want == RouteVia && (rt.Site != "b" || rt.Liveness != 3*time.Second || rt.Tick != time.Second) {
			t.Errorf("%s: %+v", tc.node, rt)
		}
	}
	for _, tc := range []struct {
		in   AuthInput
		want bool
	}{
		{AuthInput{Action: ActionReach, Via: ViaLink, Site: "b"}, true},
		{AuthInput{Action: ActionReach, Via: ViaLink, Site: "c"}, false},
		{AuthInput{Action: ActionLookup, Via: ViaPublic, Target: "web1"}, true},
		{AuthInput{Action: ActionLookup, Via: ViaPublic, Target: "db1"}, false},
		{AuthInput{Action: ActionList, Via: ViaPublic}, true},
		{AuthInput{Action: ActionRegister, Via: ViaPublic, Target: "web9"}, false},
		{AuthInput{Action: ActionList, Via: ViaRemote, Identity: "ops-1"}, true},
		{AuthInput{Action: ActionLookup, Via: ViaRemote, Identity: "app", Target: "web2@h"}, true},
		{AuthInput{Action: ActionLookup, Via: ViaRemote, Identity: "app", Target: "db2@h"}, false},
		{AuthInput{Action: ActionList, Via: ViaRemote, Identity: "app"}, false},
		{AuthInput{Action: ActionList, Via: ViaRemote, Identity: "stranger"}, false},
	} {
		if ok, reason := r.Authorize(ctx, tc.in); ok != tc.want {
			t.Errorf("%+v: %v (%s), want %v", tc.in, ok, reason, tc.want)
		}
	}
}

func TestFromABIRoute(t *testing.T) {
	rt := fromABIRoute(abi.Route{Kind: abi.RouteVia, Site: "b", Transport: "tls", Options: abi.Options{LivenessTimeoutMS: 3000, TickMS: 500, Priority: 2}})
	if rt.Kind != RouteVia || rt.Site != "b" || rt.Transport != "tls" || rt.Liveness != 3*time.Second || rt.Tick != 500*time.Millisecond || rt.Priority != 2 {
		t.Fatalf("via: %+v", rt)
	}
	if rt := fromABIRoute(abi.Route{}); rt.Kind != RouteDeny || rt.Reason == "" {
		t.Fatalf("the zero route must deny with a reason: %+v", rt)
	}
	rt = fromABIRoute(abi.Route{Kind: abi.RouteLocal, Endpoints: []abi.Endpoint{{Proto: "inet_tcp", Port: 9}}})
	if rt.Kind != RouteLocal || len(rt.Endpoints) != 1 || rt.Endpoints[0].Family != epmd.FamilyInet || rt.Endpoints[0].HighVsn != 6 || rt.Endpoints[0].NodeType != 'M' {
		t.Fatalf("local: %+v", rt)
	}
}
