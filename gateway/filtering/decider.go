package filtering

import (
	"context"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/gateway/distfilter"
	"github.com/distgate/distgate/gateway/events"
)

// decider decides for one connection's filter, on the goroutine that
// reads the remote side: its cache needs no lock.
type decider struct {
	h     *Hub
	ctx   context.Context
	asker abi.Asker
	from  string // the remote node, from the handshake
	to    string // the local node
	relay uint64 // the relay's ID, for events
	out   bool   // the local node called

	gen   uint64                        // the Hub's generation the cache belongs to
	cache map[string]distfilter.Verdict // by shape (key)
	key   []byte                        // scratch: the shape of the message at hand
}

// Connect implements distfilter.Decider: it asks the policy about the
// connection. A failure filters it (every message is asked), or closes it
// with FailClose.
func (d *decider) Connect(p *distfilter.Peers) distfilter.Verdict {
	d.from, d.to = p.Remote.Name, p.Local.Name
	req := abi.FilterRequest{Op: abi.OpConnect, From: d.from, To: d.to, Asker: d.asker}
	v, err := d.ask(&req)
	if err != nil {
		v = abi.Verdict{Action: abi.FilterAllow, Reason: "filter policy failed: filtered"}
		if d.h.cfg.OnFailure == FailClose {
			v = abi.CloseConnection("filter policy failed")
		}
	}
	d.h.count(v.Action, abi.OpConnect)
	switch {
	case v.Action != abi.FilterAllow:
		d.h.logs.refused(v.Action.String()+" connect", func() []any { return []any{"from", d.from, "to", d.to, "reason", v.Reason} },
			func() events.Event { return d.event(events.FilterClosed, "connect: "+v.Reason) })
		return distfilter.Verdict{Action: distfilter.Close, Reason: v.Reason}
	case v.Unfiltered:
		d.h.stats.unfiltered.Add(1)
	}
	return distfilter.Verdict{Action: distfilter.Allow, Unfiltered: v.Unfiltered, Reason: v.Reason}
}

// Decide implements distfilter.Decider: the cached verdict of the
// message's shape, else the policy's.
func (d *decider) Decide(m *distfilter.Message) distfilter.Verdict {
	if g := d.h.gen.Load(); g != d.gen {
		clear(d.cache)
		d.gen = g
	}
	d.key = appendShape(d.key[:0], m)
	v, ok := d.cache[string(d.key)]
	if ok {
		d.h.stats.cached.Add(1)
	} else {
		v = d.decide(m)
	}
	d.h.count(abi.FilterAction(v.Action), abi.Op(m.Op))
	if v.Action != distfilter.Allow {
		d.refused(m, v)
	}
	return v
}

// decide asks the policy about m and caches the verdict, unless the
// policy failed or said not to.
func (d *decider) decide(m *distfilter.Message) distfilter.Verdict {
	req := request(m)
	req.From, req.To, req.Asker = d.from, d.to, d.asker
	av, err := d.ask(&req)
	if err != nil {
		if !d.h.Active() {
			// The policy was removed (or replaced by one without the
			// filter hook): the connection closes, and its next one is
			// not filtered. Decoding cannot start midway: the atom cache
			// would be unknown.
			return distfilter.Verdict{Action: distfilter.Close, Reason: "the filter policy is gone"}
		}
		if d.h.cfg.OnFailure == FailClose {
			return distfilter.Verdict{Action: distfilter.Close, Reason: "filter policy failed"}
		}
		return distfilter.Verdict{Action: distfilter.Deny, Reason: "filter policy failed"}
	}
	v := distfilter.Verdict{Action: distfilter.Action(av.Action), Reason: av.Reason}
	if !av.NoCache {
		if d.cache == nil {
			d.cache = make(map[string]distfilter.Verdict)
		} else if len(d.cache) >= MaxShapes {
			clear(d.cache)
		}
		d.cache[string(d.key)] = v
	}
	return v
}

// ask calls the policy and counts the call.
func (d *decider) ask(req *abi.FilterRequest) (abi.Verdict, error) {
	d.h.stats.calls.Add(1)
	var start time.Time
	if d.h.cfg.Timed != nil {
		start = time.Now()
	}
	v, err := d.h.cfg.Engine.Filter(d.ctx, d.h.cfg.Policy, req)
	if d.h.cfg.Timed != nil {
		d.h.cfg.Timed(d.h.cfg.Policy, "filter", time.Since(start))
	}
	if err != nil {
		d.h.stats.failures.Add(1) // the engine logged it
	}
	return v, err
}

// refused logs a denial or a close, at the Hub's rate.
func (d *decider) refused(m *distfilter.Message, v distfilter.Verdict) {
	d.h.logs.refused(v.Action.String()+" "+m.Op.String(), func() []any {
		attrs := []any{"from", d.from, "to", d.to}
		if d.asker.Site != "" {
			attrs = append(attrs, "site", d.asker.Site)
		}
		if d.asker.Identity != "" {
			attrs = append(attrs, "identity", d.asker.Identity)
		}
		if len(m.Name) > 0 {
			attrs = append(attrs, "name", string(m.Name))
		}
		if len(m.MFA.Module) > 0 {
			attrs = append(attrs, "mfa", mfa(m.MFA))
		}
		if m.Call.Via != distfilter.ViaNone {
			attrs = append(attrs, "call", m.Call.Via.String()+" "+mfa(m.Call.MFA))
		}
		return append(attrs, "reason", v.Reason)
	}, func() events.Event {
		r := events.PolicyDenied
		if v.Action == distfilter.Close {
			r = events.FilterClosed
		}
		what := v.Action.String() + " " + m.Op.String()
		switch {
		case m.Call.Via != distfilter.ViaNone:
			what += " " + m.Call.Via.String() + " " + mfa(m.Call.MFA)
		case len(m.MFA.Module) > 0:
			what += " " + mfa(m.MFA)
		case len(m.Name) > 0:
			what += " to " + string(m.Name)
		}
		return d.event(r, what+": "+v.Reason)
	})
}

// event is a Filtered event of the connection.
func (d *decider) event(r events.Reason, detail string) events.Event {
	e := events.Event{Kind: events.Filtered, Relay: d.relay, Caller: d.from, Target: d.to, Route: d.asker.Site,
		Direction: "in", Reason: r, Detail: detail}
	if d.out {
		e.Caller, e.Target, e.Direction = d.to, d.from, "out"
	}
	if e.Route == "" {
		e.Route = "public"
	}
	return e
}

func mfa(f distfilter.MFA) string {
	return string(f.Module) + ":" + string(f.Function) + "/" + strconv.Itoa(f.Arity)
}

// request is the FilterRequest of a message, without the connection's
// fields.
func request(m *distfilter.Message) abi.FilterRequest {
	req := abi.FilterRequest{Op: abi.Op(m.Op), DOP: uint32(m.DOP), Name: string(m.Name)}
	if m.Trace {
		req.Flags |= abi.FlagTrace
	}
	if len(m.MFA.Module) > 0 || len(m.MFA.Function) > 0 {
		req.Module, req.Function, req.Arity = string(m.MFA.Module), string(m.MFA.Function), uint32(m.MFA.Arity)
	}
	if c := &m.Call; c.Via != distfilter.ViaNone {
		req.Call = abi.Call{Via: abi.CallVia(c.Via), Tag: string(c.Tag), Module: string(c.MFA.Module),
			Function: string(c.MFA.Function), Arity: uint32(c.MFA.Arity), Unknown: c.Unknown}
	}
	return req
}

// appendShape appends the shape of m, what its verdict depends on besides
// the connection: every field of its FilterRequest.
func appendShape(b []byte, m *distfilter.Message) []byte {
	flags := byte(0)
	if m.Trace {
		flags |= 1
	}
	if m.Call.Unknown {
		flags |= 2
	}
	b = append(b, byte(m.Op), flags, byte(m.Call.Via))
	b = binary.AppendUvarint(b, uint64(m.DOP))
	b = appendBytes(b, m.Name)
	b = appendBytes(b, m.MFA.Module)
	b = appendBytes(b, m.MFA.Function)
	b = binary.AppendUvarint(b, uint64(m.MFA.Arity))
	b = appendBytes(b, m.Call.Tag)
	b = appendBytes(b, m.Call.MFA.Module)
	b = appendBytes(b, m.Call.MFA.Function)
	return binary.AppendUvarint(b, uint64(m.Call.MFA.Arity))
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
