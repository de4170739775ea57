package main

import (
	"os"
	"testing"

	"github.com/distgate/distgate/abi"
)

func erpc(m, f string, arity uint32) abi.FilterRequest {
	return abi.FilterRequest{Op: abi.OpSpawnRequest, DOP: 29, Module: "erpc", Function: "execute_call", Arity: 4,
		Call: abi.Call{Via: abi.ViaErpc, Tag: "execute_call", Module: m, Function: f, Arity: arity}}
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
	for _, tc := range []struct {
		name       string
		req        abi.FilterRequest
		want       abi.FilterAction
		unfiltered bool
	}{
		{"connect from a stranger", abi.FilterRequest{Op: abi.OpConnect, From: "x@h.example"}, abi.FilterAllow, false},
		{"connect from ops", abi.FilterRequest{Op: abi.OpConnect, From: "admin@h1.ops.example"}, abi.FilterAllow, true},
		{"to metrics_collector", abi.FilterRequest{Op: abi.OpRegSend, Name: "metrics_collector"}, abi.FilterAllow, false},
		{"to db_server", abi.FilterRequest{Op: abi.OpRegSend, Name: "db_server"}, abi.FilterDeny, false},
		{"monitor of db_server", abi.FilterRequest{Op: abi.OpMonitor, Name: "db_server"}, abi.FilterDeny, false},
		{"monitor of a pid", abi.FilterRequest{Op: abi.OpMonitor}, abi.FilterAllow, false},
		{"erpc observer_backend:sys_info/0", erpc("observer_backend", "sys_info", 0), abi.FilterAllow, false},
		{"erpc erlang:memory/0", erpc("erlang", "memory", 0), abi.FilterAllow, false},
		{"erpc os:cmd/1", erpc("os", "cmd", 1), abi.FilterDeny, false},
		{"rex call erlang:node/0", abi.FilterRequest{Op: abi.OpRegSend, Name: "rex",
			Call: abi.Call{Via: abi.ViaGenCall, Tag: "call", Module: "erlang", Function: "node"}}, abi.FilterAllow, false},
		{"to a pid", abi.FilterRequest{Op: abi.OpSend}, abi.FilterAllow, false},
		{"exit/2 to a process", abi.FilterRequest{Op: abi.OpExit2}, abi.FilterDeny, false},
		{"group_leader/2", abi.FilterRequest{Op: abi.OpGroupLeader}, abi.FilterDeny, false},
	} {
		got := p.Filter(tc.req)
		if got.Action != tc.want || got.Unfiltered != tc.unfiltered || (got.Action != abi.FilterAllow && got.Reason == "") {
			t.Errorf("%s: %+v, want %v (unfiltered %v)", tc.name, got, tc.want, tc.unfiltered)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{`x`, `{"calls": ["nocolon"]}`, `{"trusted": ["["]}`} {
		if _, err := New([]byte(c)); err == nil {
			t.Errorf("New(%s) succeeded", c)
		}
	}
}
