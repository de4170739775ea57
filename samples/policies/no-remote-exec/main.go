// Command no-remote-exec is a distgate filter policy: nodes that connect
// to this site's nodes may not run code on them. Spawn requests and rpc
// calls (erpc, rpc, spawn/4, the calls rex serves) are refused unless the
// function they run is on an allowlist; a built-in denylist (os, code,
// file, erlang:open_port, erl_eval and the like) wins over the allowlist;
// messages to registered names that load code or run commands
// (code_server, erl_prim_loader, init, ...) are dropped; everything else
// passes. See README.md.
package main

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/abi/guest"
)

// Config is the policy's configuration blob.
type Config struct {
	// Allow are the functions a caller may run, as patterns on
	// "module:function/arity" ("erlang:node/0", "my_api:*"); a pattern
	// without "/" matches every arity.
	Allow []string `json:"allow"`
	// Deny are patterns refused even when Allow matches, added to
	// DefaultDeny.
	Deny []string `json:"deny"`
	// DenyNames are registered names no message may be sent to, added to
	// DefaultDenyNames.
	DenyNames []string `json:"deny_names"`
	// RPCNames are the registered names whose messages that have the
	// shape of a call (rex's {call, M, F, A, GL}) are decided as calls;
	// ["rex"] when absent.
	RPCNames []string `json:"rpc_names"`
}

// DefaultDeny are functions no configuration allows: running commands
// and ports, loading and evaluating code, files, stopping the node, and
// the wrappers that would run something else.
var DefaultDeny = []string{
	"os:*", "code:*", "code_server:*", "file:*", "prim_file:*", "file_server:*", "erl_prim_loader:*",
	"erl_ddll:*", "erl_eval:*", "erl_scan:*", "erl_parse:*", "compile:*", "init:*", "c:*", "shell:*",
	"rpc:*", "erpc:*", "proc_lib:*", "slave:*", "peer:*", "application:*", "net_kernel:*",
	"erlang:open_port", "erlang:port_*", "erlang:load_nif", "erlang:load_module", "erlang:purge_module",
	"erlang:delete_module", "erlang:halt", "erlang:apply", "erlang:spawn*", "erlang:set_cookie",
	"erlang:system_flag", "erlang:process_flag", "erlang:exit", "erlang:group_leader",
	"erts_internal:*", "prim_inet:*", "inet:*", "gen_tcp:*", "gen_udp:*", "ssl:*", "httpc:*",
}

// DefaultDenyNames are registered processes that load code, run
// commands or files, or stop the node, when sent the right message.
var DefaultDenyNames = []string{
	"code_server", "erl_prim_loader", "file_server_2", "init", "application_controller",
	"erl_signal_server", "user", "user_drv", "standard_error", "kernel_sup", "logger",
}

// Policy is a parsed configuration.
type Policy struct {
	allow, deny []string
	denyNames   []string
	rpcNames    []string
}

// New parses and checks a configuration.
func New(config []byte) (*Policy, error) {
	var c Config
	if len(config) > 0 {
		if err := json.Unmarshal(config, &c); err != nil {
			return nil, fmt.Errorf("no-remote-exec: config: %w", err)
		}
	}
	p := &Policy{denyNames: append(slices.Clone(DefaultDenyNames), c.DenyNames...), rpcNames: c.RPCNames}
	if p.rpcNames == nil {
		p.rpcNames = []string{"rex"}
	}
	for _, list := range []struct {
		in  []string
		out *[]string
	}{{c.Allow, &p.allow}, {append(slices.Clone(DefaultDeny), c.Deny...), &p.deny}} {
		for _, pat := range list.in {
			if !strings.Contains(pat, ":") {
				return nil, fmt.Errorf("no-remote-exec: pattern %q: want module:function[/arity]", pat)
			}
			if !strings.Contains(pat, "/") {
				pat += "/*"
			}
			if _, err := path.Match(pat, ""); err != nil {
				return nil, fmt.Errorf("no-remote-exec: bad pattern %q", pat)
			}
			*list.out = append(*list.out, pat)
		}
	}
	return p, nil
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// runs decides whether a caller may run module:function/arity.
func (p *Policy) runs(module, function string, arity uint32) abi.Verdict {
	mfa := module + ":" + function + "/" + strconv.FormatUint(uint64(arity), 10)
	switch {
	case matchAny(p.deny, mfa):
		return abi.DenyMessage("no-remote-exec: " + mfa + " is denied")
	case matchAny(p.allow, mfa):
		return abi.AllowMessage()
	}
	return abi.DenyMessage("no-remote-exec: " + mfa + " is not allowed")
}

// call decides a wrapped call: what it runs, or a denial when the gateway
// could not read it.
func (p *Policy) call(c abi.Call) abi.Verdict {
	if c.Unknown {
		return abi.DenyMessage("no-remote-exec: a call the gateway could not read")
	}
	return p.runs(c.Module, c.Function, c.Arity)
}

// Filter decides one message (or a connection, which it filters).
func (p *Policy) Filter(req abi.FilterRequest) abi.Verdict {
	switch req.Op {
	case abi.OpConnect:
		return abi.AllowMessage()
	case abi.OpSpawnRequest:
		if req.Call.Via != abi.ViaNone {
			return p.call(req.Call)
		}
		return p.runs(req.Module, req.Function, req.Arity)
	case abi.OpRegSend:
		if slices.Contains(p.denyNames, req.Name) {
			return abi.DenyMessage("no-remote-exec: messages to " + req.Name + " are denied")
		}
		if slices.Contains(p.rpcNames, req.Name) && req.Call.Via != abi.ViaNone {
			return p.call(req.Call)
		}
		// Not a call: rex runs nothing for it (its features_request,
		// which every OTP 23+ node sends on connecting).
		return abi.AllowMessage()
	case abi.OpSend, abi.OpAliasSend, abi.OpLink, abi.OpUnlink, abi.OpUnlinkAck, abi.OpExit, abi.OpExit2,
		abi.OpMonitor, abi.OpDemonitor, abi.OpMonitorExit, abi.OpGroupLeader, abi.OpSpawnReply:
		return abi.AllowMessage()
	}
	return abi.DenyMessage("no-remote-exec: unknown operation " + strconv.FormatUint(uint64(req.DOP), 10))
}

var _ = guest.Register(func(config []byte) (guest.Policy, error) {
	p, err := New(config)
	if err != nil {
		return guest.Policy{}, err
	}
	return guest.Policy{Filter: p.Filter}, nil
})

func main() {}
