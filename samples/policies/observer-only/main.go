// Command observer-only is a distgate filter policy: a node that connects
// to this site's nodes may only talk to a few registered names and run a
// few functions (what a monitoring node such as observer needs); nodes
// matching a trusted pattern pass unfiltered. See README.md.
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
	// Names are the registered names a caller may send messages to and
	// monitor.
	Names []string `json:"names"`
	// Calls are the functions a caller may run (spawn/4, erpc, rpc), as
	// patterns on "module:function/arity"; without "/", any arity.
	Calls []string `json:"calls"`
	// Trusted are patterns on node names whose connections are not
	// filtered at all (the gateway does not decode them).
	Trusted []string `json:"trusted"`
}

// Policy is a parsed configuration.
type Policy struct {
	names, calls, trusted []string
}

// New parses and checks a configuration.
func New(config []byte) (*Policy, error) {
	var c Config
	if len(config) > 0 {
		if err := json.Unmarshal(config, &c); err != nil {
			return nil, fmt.Errorf("observer-only: config: %w", err)
		}
	}
	p := &Policy{names: c.Names, trusted: c.Trusted}
	for _, pat := range c.Calls {
		if !strings.Contains(pat, ":") {
			return nil, fmt.Errorf("observer-only: call pattern %q: want module:function[/arity]", pat)
		}
		if !strings.Contains(pat, "/") {
			pat += "/*"
		}
		p.calls = append(p.calls, pat)
	}
	for _, pat := range append(slices.Clone(p.calls), p.trusted...) {
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("observer-only: bad pattern %q", pat)
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
	if matchAny(p.calls, mfa) {
		return abi.AllowMessage()
	}
	return abi.DenyMessage("observer-only: " + mfa + " may not run")
}

// name decides a message to, or a monitor of, a registered name.
func (p *Policy) name(n string) abi.Verdict {
	if slices.Contains(p.names, n) {
		return abi.AllowMessage()
	}
	return abi.DenyMessage("observer-only: " + n + " is not open")
}

// Filter decides one message, or a connection.
func (p *Policy) Filter(req abi.FilterRequest) abi.Verdict {
	switch req.Op {
	case abi.OpConnect:
		if matchAny(p.trusted, req.From) {
			return abi.Verdict{Action: abi.FilterAllow, Unfiltered: true, Reason: "observer-only: trusted node"}
		}
		return abi.AllowMessage()
	case abi.OpSpawnRequest:
		if req.Call.Via != abi.ViaNone {
			if req.Call.Unknown {
				return abi.DenyMessage("observer-only: a call the gateway could not read")
			}
			return p.runs(req.Call.Module, req.Call.Function, req.Call.Arity)
		}
		return p.runs(req.Module, req.Function, req.Arity)
	case abi.OpRegSend:
		if req.Name == "rex" && req.Call.Via != abi.ViaNone && !req.Call.Unknown {
			return p.runs(req.Call.Module, req.Call.Function, req.Call.Arity)
		}
		return p.name(req.Name)
	case abi.OpMonitor, abi.OpDemonitor:
		if req.Name != "" {
			return p.name(req.Name)
		}
		return abi.AllowMessage()
	case abi.OpSend, abi.OpAliasSend, abi.OpLink, abi.OpUnlink, abi.OpUnlinkAck, abi.OpExit,
		abi.OpMonitorExit, abi.OpSpawnReply:
		// What concerns the caller's own processes, or processes it was
		// given.
		return abi.AllowMessage()
	}
	// exit/2 to this node's processes, group_leader/2, what is unknown.
	return abi.DenyMessage("observer-only: " + req.Op.String() + " is not allowed")
}

var _ = guest.Register(func(config []byte) (guest.Policy, error) {
	p, err := New(config)
	if err != nil {
		return guest.Policy{}, err
	}
	return guest.Policy{Filter: p.Filter}, nil
})

func main() {}
