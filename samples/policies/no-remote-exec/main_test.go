package main

import (
	"os"
	"testing"

	"github.com/distgate/distgate/abi"
)

func spawn(m, f string, arity uint32) abi.FilterRequest {
	return abi.FilterRequest{Op: abi.OpSpawnRequest, DOP: 29, Module: m, Function: f, Arity: arity}
}

func erpc(m, f string, arity uint32) abi.FilterRequest {
	r := spawn("erpc", "execute_call", 4)
	r.Call = abi.Call{Via: abi.ViaErpc, Tag: "execute_call", Module: m, Function: f, Arity: arity}
	return r
}

func rex(m, f string, arity uint32) abi.FilterRequest {
	return abi.FilterRequest{Op: abi.OpRegSend, DOP: 6, Name: "rex",
		Call: abi.Call{Via: abi.ViaGenCall, Tag: "call", Module: m, Function: f, Arity: arity}}
}

func regSend(name string) abi.FilterRequest {
	return abi.FilterRequest{Op: abi.OpRegSend, DOP: 6, Name: name}
}

// TestFilter runs the README's examples against config.json.
func TestFilter(t *testing.T) {
	config, err := os.ReadFile("config.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	unknownCall := erpc("", "", 0)
	unknownCall.Call.Unknown = true
	for _, tc := range []struct {
		name string
		req  abi.FilterRequest
		want abi.FilterAction
	}{
		{"connect", abi.FilterRequest{Op: abi.OpConnect}, abi.FilterAllow},
		{"erpc erlang:node/0", erpc("erlang", "node", 0), abi.FilterAllow},
		{"erpc os:cmd/1", erpc("os", "cmd", 1), abi.FilterDeny},
		{"erpc my_api:get/1", erpc("my_api", "get", 1), abi.FilterAllow},
		{"erpc my_api:reset/0", erpc("my_api", "reset", 0), abi.FilterDeny},
		{"erpc erlang:apply/2 (a fun)", erpc("erlang", "apply", 2), abi.FilterDeny},
		{"erpc call the gateway could not read", unknownCall, abi.FilterDeny},
		{"spawn/4 of os:cmd/1", spawn("os", "cmd", 1), abi.FilterDeny},
		{"spawn/4 of my_api:loop/0", spawn("my_api", "loop", 0), abi.FilterAllow},
		{"spawn/4 of erlang:open_port/2", spawn("erlang", "open_port", 2), abi.FilterDeny},
		{"spawn/4 of code:load_binary/3", spawn("code", "load_binary", 3), abi.FilterDeny},
		{"spawn/4 of unlisted:f/0", spawn("unlisted", "f", 0), abi.FilterDeny},
		{"rex call os:cmd/1", rex("os", "cmd", 1), abi.FilterDeny},
		{"rex call erlang:node/0", rex("erlang", "node", 0), abi.FilterAllow},
		{"rex message that is not a call (features_request)", regSend("rex"), abi.FilterAllow},
		{"to code_server", regSend("code_server"), abi.FilterDeny},
		{"to my_admin", regSend("my_admin"), abi.FilterDeny},
		{"to global_name_server", regSend("global_name_server"), abi.FilterAllow},
		{"to a pid", abi.FilterRequest{Op: abi.OpSend, DOP: 22}, abi.FilterAllow},
		{"monitor", abi.FilterRequest{Op: abi.OpMonitor, DOP: 19}, abi.FilterAllow},
		{"unknown operation", abi.FilterRequest{Op: abi.OpUnknown, DOP: 99}, abi.FilterDeny},
	} {
		got := p.Filter(tc.req)
		if got.Action != tc.want || (got.Action != abi.FilterAllow && got.Reason == "") {
			t.Errorf("%s: %+v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDefaultsDenyAll: without a configuration nothing may run.
func TestDefaultsDenyAll(t *testing.T) {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Filter(erpc("erlang", "node", 0)); v.Action != abi.FilterDeny {
		t.Errorf("erlang:node/0 without configuration: %+v", v)
	}
	// The denylist wins over a broad allowlist.
	p, _ = New([]byte(`{"allow": ["*:*"]}`))
	if v := p.Filter(erpc("os", "cmd", 1)); v.Action != abi.FilterDeny {
		t.Errorf("os:cmd/1 with *:* allowed: %+v", v)
	}
	if v := p.Filter(erpc("lists", "reverse", 1)); v.Action != abi.FilterAllow {
		t.Errorf("lists:reverse/1 with *:* allowed: %+v", v)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{`x`, `{"allow": ["nocolon"]}`, `{"deny": ["a:["]}`} {
		if _, err := New([]byte(c)); err == nil {
			t.Errorf("New(%s) succeeded", c)
		}
	}
}
