// Package policies_test builds every sample policy to WebAssembly and runs
// the examples of its README through the policy engine.
package policies_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/wasm"
	"github.com/distgate/distgate/wasm/wasmtest"
)

var build *wasmtest.Builder

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distgate-samples")
	if err != nil {
		panic(err)
	}
	build = wasmtest.NewBuilder(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var ctx = context.Background()

// engine starts an engine with one sample installed under its name, with
// its config.json when it has one.
func engine(t *testing.T, name string, module []byte) *wasm.Engine {
	t.Helper()
	e, err := wasm.New(ctx, wasm.Config{
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
		CallTimeout: time.Second, // tests share the machine with others
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	config, err := os.ReadFile(name + "/config.json")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if _, err := e.Install(ctx, name, module, config); err != nil {
		t.Fatal(err)
	}
	return e
}

type lookupCase struct {
	req  abi.LookupRequest
	want abi.Route
}

func checkLookups(t *testing.T, e *wasm.Engine, name string, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := e.Lookup(ctx, name, &tc.req)
		if err != nil {
			t.Errorf("%s: Lookup(%s): %v", name, tc.req.Node(), err)
			continue
		}
		if got.Kind != tc.want.Kind || got.Site != tc.want.Site || got.Transport != tc.want.Transport ||
			got.Reason != tc.want.Reason || got.Options != tc.want.Options || len(got.Endpoints) != 0 {
			t.Errorf("%s: Lookup(%s) = %+v, want %+v", name, tc.req.Node(), got, tc.want)
		}
	}
}

func withOptions(r abi.Route, o abi.Options) abi.Route {
	r.Options = o
	return r
}

func TestStaticMap(t *testing.T) {
	e := engine(t, "static-map", build.Go(t, "static-map"))
	checkLookups(t, e, "static-map", []lookupCase{
		{abi.LookupRequest{Name: "db1", Host: "a.eu.example"}, withOptions(abi.Via("eu-west", "quic"), abi.Options{TickMS: 15000})},
		{abi.LookupRequest{Name: "web", Host: "gw1"}, abi.Local()},
		{abi.LookupRequest{Name: "legacy7", Host: "x"}, abi.Deny("legacy nodes are retired")},
		{abi.LookupRequest{Name: "other", Host: "us.example"}, withOptions(abi.Via("hub", "tls"), abi.Options{Priority: 1})},
	})
	// A configuration with a bad pattern is refused at upload.
	_, err := e.Install(ctx, "static-map", build.Go(t, "static-map"), []byte(`{"routes": [{"match": "[", "local": true}]}`))
	if err == nil {
		t.Error("a bad pattern was accepted")
	}
}

func TestRegionAware(t *testing.T) {
	e := engine(t, "region-aware", build.Go(t, "region-aware"))
	from := func(region string) abi.Asker {
		if region == "" {
			return abi.Asker{}
		}
		return abi.Asker{Site: "peer", Labels: []abi.Label{{Key: "region", Value: region}}}
	}
	tick := abi.Options{TickMS: 15000}
	checkLookups(t, e, "region-aware", []lookupCase{
		{abi.LookupRequest{Name: "db", Host: "h9", Asker: from("us")}, withOptions(abi.Via("us-east", "quic"), tick)},
		{abi.LookupRequest{Name: "db", Host: "h9", Asker: from("eu")}, withOptions(abi.Via("eu-west", "quic"), tick)},
		{abi.LookupRequest{Name: "db", Host: "h9", Asker: from("ap")}, withOptions(abi.Via("eu-west", "quic"), tick)},
		{abi.LookupRequest{Name: "db", Host: "h9", Asker: from("")}, withOptions(abi.Via("eu-west", "quic"), tick)},
		{abi.LookupRequest{Name: "db", LocalHost: true, Registered: true, Asker: from("us")}, abi.Local()},
	})
}

func TestAllowlist(t *testing.T) {
	e := engine(t, "allowlist", build.Go(t, "allowlist"))
	web := abi.Asker{Identity: "spiffe://example.org/web1", Site: "eu", Addr: netip.MustParseAddrPort("192.0.2.7:4000")}
	evil := abi.Asker{Identity: "spiffe://evil.example/x", Site: "eu"}
	for _, tc := range []struct {
		asker  abi.Asker
		action abi.Action
		node   string
		allow  bool
	}{
		{web, abi.ActionReach, "db1@h", true},
		{web, abi.ActionReach, "admin@h", false},
		{web, abi.ActionRegister, "db1", false},
		{web, abi.ActionList, "", true},
		{web, abi.ActionList, "secret@h", false},
		{abi.Asker{}, abi.ActionRegister, "anything", true},
		{evil, abi.ActionList, "", false},
	} {
		d, err := e.Authorize(ctx, "allowlist", &abi.AuthorizeRequest{Action: tc.action, Node: tc.node, Asker: tc.asker})
		if err != nil || d.Allow != tc.allow || (!d.Allow && d.Reason == "") {
			t.Errorf("%s %v %q = %+v, %v; want allow=%v", tc.asker.Identity, tc.action, tc.node, d, err, tc.allow)
		}
	}
	// It implements no lookup: the engine fails closed.
	if r, err := e.Lookup(ctx, "allowlist", &abi.LookupRequest{Name: "x"}); err == nil || r.Kind != abi.RouteDeny {
		t.Errorf("Lookup on an access policy = %+v, %v", r, err)
	}
}

func TestLocalOnly(t *testing.T) {
	e := engine(t, "local-only", build.WAT(t, "local-only/local-only.wat"))
	notLocal := abi.Deny("not a local node")
	checkLookups(t, e, "local-only", []lookupCase{
		{abi.LookupRequest{Name: "db", LocalHost: true, Registered: true}, abi.Local()},
		{abi.LookupRequest{Name: "db", Host: "thishost", LocalHost: true, Registered: true,
			Local: []abi.Endpoint{{Proto: "inet_tcp", Port: 4000}}}, abi.Local()},
		{abi.LookupRequest{Name: "db", Host: "thishost", LocalHost: true}, notLocal},
		{abi.LookupRequest{Name: "db", Host: "otherhost", Accept: []string{"inet_tcp"}}, notLocal},
	})
}

// checkFilter runs filter requests through a sample and compares the
// actions.
func checkFilter(t *testing.T, e *wasm.Engine, name string, cases map[abi.FilterAction][]abi.FilterRequest) {
	t.Helper()
	for want, reqs := range cases {
		for _, req := range reqs {
			v, err := e.Filter(ctx, name, &req)
			if err != nil || v.Action != want {
				t.Errorf("%s: Filter(%v %s %s %s) = %+v, %v; want %v", name, req.Op, req.Name, req.MFA(), req.Call.String(), v, err, want)
			}
		}
	}
}

func erpcCall(m, f string, arity uint32) abi.FilterRequest {
	return abi.FilterRequest{Op: abi.OpSpawnRequest, DOP: 29, Module: "erpc", Function: "execute_call", Arity: 4,
		Call: abi.Call{Via: abi.ViaErpc, Tag: "execute_call", Module: m, Function: f, Arity: arity}}
}

func TestNoRemoteExec(t *testing.T) {
	e := engine(t, "no-remote-exec", build.Go(t, "no-remote-exec"))
	checkFilter(t, e, "no-remote-exec", map[abi.FilterAction][]abi.FilterRequest{
		abi.FilterAllow: {
			{Op: abi.OpConnect, From: "a@x", To: "b@y"},
			erpcCall("erlang", "node", 0),
			erpcCall("my_api", "get", 1),
			{Op: abi.OpRegSend, DOP: 6, Name: "global_name_server"},
			{Op: abi.OpSend, DOP: 22},
		},
		abi.FilterDeny: {
			erpcCall("os", "cmd", 1),
			erpcCall("my_api", "reset", 0),
			{Op: abi.OpSpawnRequest, DOP: 29, Module: "os", Function: "cmd", Arity: 1},
			{Op: abi.OpRegSend, DOP: 6, Name: "code_server"},
			{Op: abi.OpRegSend, DOP: 6, Name: "rex", Call: abi.Call{Via: abi.ViaGenCall, Tag: "block_call", Module: "os", Function: "cmd", Arity: 1}},
		},
	})
}

func TestObserverOnly(t *testing.T) {
	e := engine(t, "observer-only", build.Go(t, "observer-only"))
	v, err := e.Filter(ctx, "observer-only", &abi.FilterRequest{Op: abi.OpConnect, From: "admin@h1.ops.example"})
	if err != nil || v.Action != abi.FilterAllow || !v.Unfiltered {
		t.Errorf("connect from a trusted node: %+v, %v", v, err)
	}
	checkFilter(t, e, "observer-only", map[abi.FilterAction][]abi.FilterRequest{
		abi.FilterAllow: {
			{Op: abi.OpConnect, From: "x@h.example"},
			{Op: abi.OpRegSend, DOP: 6, Name: "metrics_collector"},
			erpcCall("observer_backend", "sys_info", 0),
			{Op: abi.OpSend, DOP: 22},
		},
		abi.FilterDeny: {
			{Op: abi.OpRegSend, DOP: 6, Name: "db_server"},
			{Op: abi.OpMonitor, DOP: 19, Name: "db_server"},
			erpcCall("os", "cmd", 1),
			{Op: abi.OpExit2, DOP: 8},
		},
	})
}
