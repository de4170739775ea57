package abi

import (
	"fmt"
	"strconv"
)

// FilterRequest fields (revision 4).
const (
	tagFlOp       = 1  // u8: an Op
	tagFlDOP      = 2  // u32: the distribution operation as received (DOP_*)
	tagFlFrom     = 3  // string: the node that sends
	tagFlTo       = 4  // string: the node of this site that receives
	tagFlAsker    = 5  // nested asker: who the sender is, as the gateway knows it
	tagFlName     = 6  // string: a registered name (REG_SEND, a monitor of a name)
	tagFlModule   = 7  // string: a spawn request's module
	tagFlFunction = 8  // string: its function
	tagFlArity    = 9  // u32: its arity (the argument list's length)
	tagFlCall     = 10 // nested CALL: the call a wrapper carries
	tagFlFlags    = 11 // u32: FilterFlags
)

// CALL fields (the value of a nested CALL field).
const (
	tagCallVia      = 1 // u8: a CallVia
	tagCallTag      = 2 // string: the request's tag (call, cast, execute_call, apply, ...)
	tagCallModule   = 3 // string
	tagCallFunction = 4 // string
	tagCallArity    = 5 // u32
	tagCallUnknown  = 6 // u8: 1 when the gateway could not read the call
)

// Op is the operation of a distribution message, or a connection
// (OpConnect). Trace-token and payload variants of an operation share one
// Op; FilterRequest.DOP tells them apart.
type Op uint8

// Operations (revision 4). New operations may be added: a policy should
// deny (or allow, as it sees fit) the operations it does not know.
const (
	OpUnknown      Op = 0  // an operation the gateway does not know (DOP says which)
	OpConnect      Op = 1  // a new connection, once its handshake is done: asked before any message
	OpSend         Op = 2  // a message to a pid
	OpRegSend      Op = 3  // a message to a registered name (Name)
	OpAliasSend    Op = 4  // a message to an alias
	OpLink         Op = 5  // link/1
	OpUnlink       Op = 6  // unlink/1
	OpUnlinkAck    Op = 7  // the acknowledgement of an unlink
	OpExit         Op = 8  // a linked process died
	OpExit2        Op = 9  // exit/2 to a process
	OpMonitor      Op = 10 // monitor/2 of a pid, or of a registered name (Name)
	OpDemonitor    Op = 11 // demonitor/1
	OpMonitorExit  Op = 12 // a monitored process died
	OpGroupLeader  Op = 13 // group_leader/2
	OpSpawnRequest Op = 14 // spawn of Module:Function/Arity on the receiving node
	OpSpawnReply   Op = 15 // the answer to a spawn request
)

var opNames = [...]string{"unknown", "connect", "send", "reg_send", "alias_send", "link", "unlink", "unlink_ack",
	"exit", "exit2", "monitor", "demonitor", "monitor_exit", "group_leader", "spawn_request", "spawn_reply"}

// String returns the operation's name ("reg_send").
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op " + strconv.Itoa(int(o))
}

// CallVia is how a message wraps a call of a function.
type CallVia uint8

// Wrappers of calls (revision 4).
const (
	ViaNone    CallVia = 0
	ViaErpc    CallVia = 1 // a spawn request of erpc:execute_call or erpc:execute_cast: erpc:call, erpc:cast, rpc:call and rpc:cast of OTP 23+
	ViaApply   CallVia = 2 // a spawn request of erlang:apply/2,3
	ViaGenCall CallVia = 3 // a REG_SEND of {'$gen_call', From, {Tag, M, F, A, ...}}: rex's call and block_call (rpc before OTP 23, rpc:block_call)
	ViaGenCast CallVia = 4 // a REG_SEND of {'$gen_cast', {Tag, M, F, A, ...}}
	ViaInfo    CallVia = 5 // a REG_SEND of {From, {Tag, M, F, A, ...}}: rex's calls from C nodes
)

var viaNames = [...]string{"none", "erpc", "apply", "gen_call", "gen_cast", "info"}

// String returns the wrapper's name ("erpc").
func (v CallVia) String() string {
	if int(v) < len(viaNames) {
		return viaNames[v]
	}
	return "via " + strconv.Itoa(int(v))
}

// FilterFlags qualify a message.
type FilterFlags uint32

// Flags of a FilterRequest.
const (
	// FlagTrace: the message carries a sequential trace token.
	FlagTrace FilterFlags = 1 << 0
)

// Call is the call of a function a message carries in a wrapper.
type Call struct {
	Via              CallVia
	Tag              string // call, block_call, cast (rex); execute_call, execute_cast (erpc); apply
	Module, Function string
	Arity            uint32
	// Unknown is set when the message has a wrapper's shape but the
	// gateway could not read the call within its limits (arguments past
	// the first fragment of a message, a local fun): a policy that
	// restricts calls should deny it.
	Unknown bool
}

// FilterRequest asks a filter policy about one distribution message that a
// node (From) sends to a node of this site (To), or, with OpConnect, about
// a new connection. Revision 4.
type FilterRequest struct {
	Op       Op
	DOP      uint32 // the operation number as received
	From, To string // node names, as the handshake gave them
	// Asker is who sends, as the gateway knows it: the peer site and the
	// caller's node name (verified or not, ASKER VERIFIED) over a link,
	// the client certificate's identity over a TLS port. Its label "via"
	// is the channel, as for authorizations.
	Asker Asker
	// Name is the registered name a message goes to (OpRegSend), or a
	// monitor's name (OpMonitor, OpDemonitor, OpMonitorExit).
	Name string
	// Module, Function and Arity are what a spawn request runs; Arity is
	// the length of its argument list.
	Module, Function string
	Arity            uint32
	// Call is the call a wrapper carries: the function a spawn of
	// erpc:execute_call runs, a rex call's M:F/A.
	Call  Call
	Flags FilterFlags
}

// Append appends the encoded request to b.
func (r *FilterRequest) Append(b []byte) []byte {
	b = appendHeader(b, TypeFilterRequest)
	b = appendUint8Field(b, tagFlOp, byte(r.Op))
	if r.DOP != 0 {
		b = appendUint32Field(b, tagFlDOP, r.DOP)
	}
	if r.From != "" {
		b = appendStringField(b, tagFlFrom, r.From)
	}
	if r.To != "" {
		b = appendStringField(b, tagFlTo, r.To)
	}
	if !r.Asker.isZero() {
		var start int
		b, start = beginField(b, tagFlAsker)
		b = endField(r.Asker.append(b), start)
	}
	if r.Name != "" {
		b = appendStringField(b, tagFlName, r.Name)
	}
	if r.Module != "" || r.Function != "" {
		b = appendStringField(b, tagFlModule, r.Module)
		b = appendStringField(b, tagFlFunction, r.Function)
		b = appendUint32Field(b, tagFlArity, r.Arity)
	}
	if r.Call != (Call{}) {
		var start int
		b, start = beginField(b, tagFlCall)
		b = appendUint8Field(b, tagCallVia, byte(r.Call.Via))
		if r.Call.Tag != "" {
			b = appendStringField(b, tagCallTag, r.Call.Tag)
		}
		if r.Call.Module != "" || r.Call.Function != "" {
			b = appendStringField(b, tagCallModule, r.Call.Module)
			b = appendStringField(b, tagCallFunction, r.Call.Function)
			b = appendUint32Field(b, tagCallArity, r.Call.Arity)
		}
		if r.Call.Unknown {
			b = appendUint8Field(b, tagCallUnknown, 1)
		}
		b = endField(b, start)
	}
	if r.Flags != 0 {
		b = appendUint32Field(b, tagFlFlags, uint32(r.Flags))
	}
	return b
}

// ParseFilterRequest decodes a FilterRequest.
func ParseFilterRequest(b []byte) (FilterRequest, error) {
	var r FilterRequest
	body, err := parseHeader(b, TypeFilterRequest)
	if err != nil {
		return r, err
	}
	f := fields{s: body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagFlOp:
			var o byte
			o, err = fieldUint8(tag, v)
			r.Op = Op(o)
		case tagFlDOP:
			r.DOP, err = fieldUint32(tag, v)
		case tagFlFrom:
			r.From = v
		case tagFlTo:
			r.To = v
		case tagFlAsker:
			r.Asker, err = parseAsker(v)
		case tagFlName:
			r.Name = v
		case tagFlModule:
			r.Module = v
		case tagFlFunction:
			r.Function = v
		case tagFlArity:
			r.Arity, err = fieldUint32(tag, v)
		case tagFlCall:
			r.Call, err = parseCall(v)
		case tagFlFlags:
			var u uint32
			u, err = fieldUint32(tag, v)
			r.Flags = FilterFlags(u)
		}
		if err != nil {
			return FilterRequest{}, fmt.Errorf("abi: filter request: %w", err)
		}
	}
	if f.err != nil {
		return FilterRequest{}, fmt.Errorf("abi: filter request: %w", f.err)
	}
	return r, nil
}

// parseCall decodes the value of a CALL field.
func parseCall(list string) (Call, error) {
	var c Call
	f := fields{s: list}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		var err error
		switch tag {
		case tagCallVia:
			var u byte
			u, err = fieldUint8(tag, v)
			c.Via = CallVia(u)
		case tagCallTag:
			c.Tag = v
		case tagCallModule:
			c.Module = v
		case tagCallFunction:
			c.Function = v
		case tagCallArity:
			c.Arity, err = fieldUint32(tag, v)
		case tagCallUnknown:
			c.Unknown, err = fieldBool(tag, v)
		}
		if err != nil {
			return Call{}, fmt.Errorf("call: %w", err)
		}
	}
	if f.err != nil {
		return Call{}, fmt.Errorf("call: %w", f.err)
	}
	return c, nil
}

// MFA returns "module:function/arity" of a spawn request, or "" without
// one.
func (r *FilterRequest) MFA() string {
	if r.Module == "" && r.Function == "" {
		return ""
	}
	return r.Module + ":" + r.Function + "/" + strconv.FormatUint(uint64(r.Arity), 10)
}

// String returns "module:function/arity" of the call.
func (c *Call) String() string {
	return c.Module + ":" + c.Function + "/" + strconv.FormatUint(uint64(c.Arity), 10)
}
