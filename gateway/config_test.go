package gateway

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

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
		d.Links.QUIC != "127.0.0.1:4371" || d.Proxy.Idle.Std() != DefaultProxyIdle || d.Policy.Lookup != defaultLookupPolicy ||
		d.Policy.Authorize != defaultAuthorizePolicy || d.Policy.OnFailure != onFailureDeny || d.DataDir == "" {
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
		{"epmd: {listen: 127.0.0.1:99999}", "epmd.listen: \"127.0.0.1:99999\": port \"99999\" is not a number"},
		{"admin: {listen: 127.0.0.1:-4}", "admin.listen: "},
		{"links: {quic: 'bad host:1'}", "links.quic: "},
		{"links: {tls: 999.1.1.1:1}", "is not an IP address"},
		{"acme: {http_address: ':65536'}", "acme.http_address: "},
		{"acme: {tls_alpn_port: 65536}", "acme.tls_alpn_port: "},
		{"peers: [{site: b, identity: dg1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, quic: 'x:0'}]", "peers[0].quic: \"x:0\": port 0 cannot be dialled"},
		{"peers: [{site: b, identity: dg1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, tls: ':4371'}]", "peers[0].tls: \":4371\": give the host"},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.yaml, err, tc.want)
		}
	}
}

// TestConfigAddressesAccepted: what listeners and dialers take is kept:
// port 0 to listen on, service names, IPv6 with a zone, host names.
func TestConfigAddressesAccepted(t *testing.T) {
	for _, y := range []string{
		"epmd: {listen: '127.0.0.1:0'}",
		"epmd: {listen: ':4369'}",
		"links: {quic: '[::1]:4371', tls: 'localhost:https'}",
		"links: {tls: '[fe80::1%lo]:4371'}",
		"admin: {listen: 'localhost:4370'}",
		"admin: {listen: 'unix:/run/distgate/admin.sock'}",
		"peers: [{site: b, identity: dg1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, quic: 'gw.site-b.example:4371', tls: '10.0.0.2:443'}]",
	} {
		if _, err := ParseConfig([]byte(y)); err != nil {
			t.Errorf("%s: %v", y, err)
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
		want  abi.RouteKind
	}{
		{"y@h.b.example", false, abi.RouteVia},
		{"old1@anywhere", true, abi.RouteDeny},
		{"x@pinned.example", false, abi.RouteLocal},
		{"x@elsewhere", false, abi.RouteNone},
		{"x@here", true, abi.RouteLocal},
	} {
		name, host := epmd.SplitNode(tc.node)
		rt := r.Lookup(ctx, &abi.LookupRequest{Name: name, Host: host, LocalHost: tc.local})
		if rt.Kind != tc.want {
			t.Errorf("%s: %v, want %v", tc.node, rt.Kind, tc.want)
		}
		if err := rt.Validate(); err != nil {
			t.Errorf("%s: %v", tc.node, err)
		}
		if tc.want == abi.RouteVia && (rt.Site != "b" || rt.Options.LivenessTimeoutMS != 3000 || rt.Options.TickMS != 1000) {
			t.Errorf("%s: %+v", tc.node, rt)
		}
	}
	az := func(action abi.Action, lookup bool, node string, a abi.Asker) *abi.AuthorizeRequest {
		return &abi.AuthorizeRequest{Action: action, Lookup: lookup, Node: node, Asker: a}
	}
	// An identity and the roots that verified it.
	id := func(identity string, roots ...string) abi.Asker {
		return abi.Asker{Identity: identity, Verified: abi.VerifiedIdentity, Roots: roots}
	}
	for _, tc := range []struct {
		via  Via
		req  *abi.AuthorizeRequest
		want bool
	}{
		{ViaLink, az(abi.ActionReach, false, "", abi.Asker{Site: "b"}), true},
		{ViaLink, az(abi.ActionReach, false, "", abi.Asker{Site: "c"}), false},
		{ViaPublic, az(abi.ActionList, true, "web1", abi.Asker{}), true},
		{ViaPublic, az(abi.ActionList, true, "db1", abi.Asker{}), false},
		{ViaPublic, az(abi.ActionList, false, "", abi.Asker{}), true},
		{ViaPublic, az(abi.ActionRegister, false, "web9", abi.Asker{}), false},
		{ViaRemote, az(abi.ActionList, false, "", id("ops-1", abi.RootRemote)), true},
		{ViaRemote, az(abi.ActionList, true, "web2@h", id("app", abi.RootRemote)), true},
		{ViaRemote, az(abi.ActionList, true, "db2@h", id("app", abi.RootRemote)), false},
		{ViaRemote, az(abi.ActionList, false, "", id("app", abi.RootRemote)), false},
		{ViaRemote, az(abi.ActionList, false, "", id("stranger", abi.RootRemote)), false},
		// remote.allow is for identities of remote.client_ca only.
		{ViaRemote, az(abi.ActionList, false, "", id("ops-1", abi.RootPublic)), false},
		{ViaRemote, az(abi.ActionList, false, "", abi.Asker{Identity: "ops-1", Roots: []string{abi.RootRemote}}), false},
		{ViaPublic, az(abi.ActionReach, false, "db1@h", id("ops-1", abi.RootPublic)), false},
		{ViaPublic, az(abi.ActionReach, false, "db1@h", id("ops-1", abi.RootPublic, abi.RootRemote)), true},
		{ViaLocal, az(abi.ActionRegister, false, "x", abi.Asker{}), true},
	} {
		if d := r.Authorize(ctx, tc.via, tc.req); d.Allow != tc.want {
			t.Errorf("%v %+v: %v (%s), want %v", tc.via, tc.req, d.Allow, d.Reason, tc.want)
		}
	}
}

// TestPublicNamesOff: with public.names off, the public EPMD refuses a
// listing but still answers a lookup of an exported name, which the ABI
// tells apart with the Lookup field.
func TestPublicNamesOff(t *testing.T) {
	cfg, err := ParseConfig([]byte(`public: {export: ["web*"]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := newStaticRouter(cfg.WithDefaults())
	ctx := context.Background()
	if d := r.Authorize(ctx, ViaPublic, &abi.AuthorizeRequest{Action: abi.ActionList, Node: "web1"}); d.Allow {
		t.Error("a listing was allowed with public.names off")
	}
	if d := r.Authorize(ctx, ViaPublic, &abi.AuthorizeRequest{Action: abi.ActionList, Lookup: true, Node: "web1"}); !d.Allow {
		t.Errorf("a lookup was refused: %s", d.Reason)
	}
}

// TestNonLocalEPMD: NAMES_X and LOOKUP_X from another host on the classic
// EPMD are decided as on the public EPMD: exported names only, a listing
// only with public.names.
func TestNonLocalEPMD(t *testing.T) {
	ctx := context.Background()
	peer := netip.MustParseAddrPort("192.0.2.7:40000")
	for _, tc := range []struct {
		yaml                         string
		list, listWeb, lookWeb, look bool
	}{
		{`{}`, false, false, false, false},
		{`public: {export: ["web*"]}`, false, false, true, false},
		{`public: {export: ["web*"], names: true}`, true, true, true, false},
	} {
		cfg, err := ParseConfig([]byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		n := &nonLocalEPMD{router: newStaticRouter(cfg.WithDefaults()), log: slog.New(slog.DiscardHandler)}
		got := [4]bool{n.MayList(ctx, peer, "", false), n.MayList(ctx, peer, "web1@h", false), n.MayList(ctx, peer, "web1@h", true), n.MayList(ctx, peer, "db@h", true)}
		if want := [4]bool{tc.list, tc.listWeb, tc.lookWeb, tc.look}; got != want {
			t.Errorf("%s: list, list web1, look up web1, look up db = %v, want %v", tc.yaml, got, want)
		}
	}
}

func TestFromABIEndpoints(t *testing.T) {
	eps := fromABIEndpoints([]abi.Endpoint{{Proto: "inet_tcp", Port: 9}})
	if len(eps) != 1 || eps[0].Family != epmd.FamilyInet || eps[0].HighVsn != 6 || eps[0].LowVsn != 6 || eps[0].NodeType != 'M' {
		t.Fatalf("local: %+v", eps)
	}
}
