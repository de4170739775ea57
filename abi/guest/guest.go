// Package guest is the SDK for policies written in Go. A policy is a main
// package that registers a constructor and is built as a WASI reactor:
//
//	package main
//
//	import (
//		"github.com/distgate/distgate/abi"
//		"github.com/distgate/distgate/abi/guest"
//	)
//
//	var _ = guest.Register(func(config []byte) (guest.Policy, error) {
//		return guest.Policy{Lookup: func(req abi.LookupRequest) abi.Route {
//			return abi.Local()
//		}}, nil
//	})
//
//	func main() {}
//
// built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o policy.wasm .
//
// The package provides the exports of the ABI (distgate_abi_v1,
// distgate_alloc, distgate_init, distgate_lookup, distgate_authorize,
// distgate_filter): the gateway calls the constructor once per instance with the policy's
// configuration blob, then the Policy's functions once per decision. A
// decision the Policy leaves nil answers abi.CodeUnsupported; a panic in a
// decision is recovered, logged and answers abi.CodeFailed.
//
// Outside wasip1 the package builds too, so a policy's logic can be tested
// with plain go test; Log then does nothing.
package guest

import (
	"fmt"
	"runtime/debug"

	"github.com/distgate/distgate/abi"
)

// Policy is what a Go policy implements. A nil function answers
// abi.CodeUnsupported: the gateway then fails closed for that decision.
type Policy struct {
	Lookup    func(req abi.LookupRequest) abi.Route
	Authorize func(req abi.AuthorizeRequest) abi.Decision
	// Filter decides on distribution messages (ABI revision 4): the
	// gateway asks it once per new connection (abi.OpConnect), then for
	// each shape of message.
	Filter func(req abi.FilterRequest) abi.Verdict
}

// Constructor builds a Policy from the configuration blob given at upload.
// An error refuses the upload (or the instance), with the error's text.
type Constructor func(config []byte) (Policy, error)

// module is the state of the guest module. It is package state because a
// WebAssembly instance is a process of its own: the exports are static
// functions, and each instance has its own memory, hence its own module.
// The host never calls an instance from two goroutines at once.
var module dispatcher

// Register sets the policy's constructor. Call it once, from a package
// variable initializer (var _ = guest.Register(New)) or an init function:
// the gateway calls distgate_init after the Go runtime has initialized the
// package. It returns an empty struct so that it can initialize a variable.
func Register(c Constructor) struct{} {
	module.newPolicy = c
	return struct{}{}
}

// Garbage collection. A policy's live heap is small and its garbage is
// steady, so the Go default (a collection each time the heap doubles from
// a 4 MiB floor) spends more time collecting than deciding. The SDK lets
// the heap grow to 5 times the live data, within a soft limit that keeps
// it well below the gateway's default memory cap of 64 MiB. A policy may
// set its own in its constructor with runtime/debug.
const (
	gcPercent   = 400
	memoryLimit = 24 << 20
)

// dispatcher dispatches the exports; it is plain Go, tested natively.
type dispatcher struct {
	newPolicy Constructor
	policy    Policy
	ready     bool
	in        []byte // the host's input buffer (distgate_alloc)
	out       []byte // the last result; valid until the next call
}

// alloc returns an input buffer of n bytes, reusing the last one when it
// is large enough.
func (r *dispatcher) alloc(n uint32) []byte {
	if uint32(cap(r.in)) < n || cap(r.in) == 0 {
		r.in = make([]byte, max(n, 256))
	}
	r.in = r.in[:n]
	return r.in
}

// init builds the policy from config. The result is an error message, or
// nil on success.
func (r *dispatcher) init(config []byte) (msg []byte) {
	if r.newPolicy == nil {
		return r.result("no policy registered: call guest.Register from the main package")
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(memoryLimit)
	defer func() {
		if v := recover(); v != nil {
			msg = r.result(fmt.Sprintf("constructor panicked: %v", v))
		}
	}()
	p, err := r.newPolicy(config)
	if err != nil {
		return r.result(err.Error())
	}
	if p.Lookup == nil && p.Authorize == nil && p.Filter == nil {
		return r.result("the policy implements none of Lookup, Authorize and Filter")
	}
	r.policy, r.ready = p, true
	return nil
}

func (r *dispatcher) result(msg string) []byte {
	r.out = append(r.out[:0], msg...)
	return r.out
}

// lookup answers distgate_lookup for the request in r.in[:n].
func (r *dispatcher) lookup(n uint32) (out []byte, code abi.Code) {
	if !r.ready {
		return nil, abi.CodeFailed
	}
	if r.policy.Lookup == nil {
		return nil, abi.CodeUnsupported
	}
	if n > uint32(len(r.in)) {
		return nil, abi.CodeMalformed
	}
	req, err := abi.ParseLookupRequest(r.in[:n])
	if err != nil {
		Log(abi.LevelWarn, err.Error())
		return nil, abi.CodeMalformed
	}
	defer r.recoverTo("Lookup", &code)
	route := r.policy.Lookup(req)
	r.out = route.Append(r.out[:0])
	return r.out, abi.CodeOK
}

// authorize answers distgate_authorize for the request in r.in[:n].
func (r *dispatcher) authorize(n uint32) (out []byte, code abi.Code) {
	if !r.ready {
		return nil, abi.CodeFailed
	}
	if r.policy.Authorize == nil {
		return nil, abi.CodeUnsupported
	}
	if n > uint32(len(r.in)) {
		return nil, abi.CodeMalformed
	}
	req, err := abi.ParseAuthorizeRequest(r.in[:n])
	if err != nil {
		Log(abi.LevelWarn, err.Error())
		return nil, abi.CodeMalformed
	}
	defer r.recoverTo("Authorize", &code)
	d := r.policy.Authorize(req)
	r.out = d.Append(r.out[:0])
	return r.out, abi.CodeOK
}

// filter answers distgate_filter for the request in r.in[:n].
func (r *dispatcher) filter(n uint32) (out []byte, code abi.Code) {
	if !r.ready {
		return nil, abi.CodeFailed
	}
	if r.policy.Filter == nil {
		return nil, abi.CodeUnsupported
	}
	if n > uint32(len(r.in)) {
		return nil, abi.CodeMalformed
	}
	req, err := abi.ParseFilterRequest(r.in[:n])
	if err != nil {
		Log(abi.LevelWarn, err.Error())
		return nil, abi.CodeMalformed
	}
	defer r.recoverTo("Filter", &code)
	v := r.policy.Filter(req)
	r.out = v.Append(r.out[:0])
	return r.out, abi.CodeOK
}

// recoverTo turns a panic in a decision into CodeFailed and a log line.
func (r *dispatcher) recoverTo(what string, code *abi.Code) {
	if v := recover(); v != nil {
		Log(abi.LevelError, fmt.Sprintf("%s panicked: %v", what, v))
		*code = abi.CodeFailed
	}
}

// Logf logs a formatted message at level into the gateway's log, tagged
// with the policy's name.
func Logf(level abi.LogLevel, format string, args ...any) {
	Log(level, fmt.Sprintf(format, args...))
}
