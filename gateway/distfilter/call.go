package distfilter

import "bytes"

// needsPayload reports whether the filter reads m's payload: for the call
// a spawn request's arguments or a message to a registered name carry.
func needsPayload(m *Message) bool {
	return m.Op == OpSpawnRequest || m.Op == OpRegSend
}

// decodeCall reads the start of the payload of m (the arguments of a
// spawn request, the message of a REG_SEND) for the call it carries. It
// returns errShort when the payload ends before the call's shape is
// known: the caller then gets more bytes, or marks the call Unknown.
func decodeCall(r *reader, m *Message) error {
	if m.Op == OpSpawnRequest {
		return decodeSpawnArgs(r, m)
	}
	return decodeRequest(r, m)
}

var (
	atomErpc     = []byte("erpc")
	atomExecCall = []byte("execute_call")
	atomExecCast = []byte("execute_cast")
	atomErlang   = []byte("erlang")
	atomApply    = []byte("apply")
	atomGenCall  = []byte("$gen_call")
	atomGenCast  = []byte("$gen_cast")
)

// decodeSpawnArgs reads a spawn request's argument list: its length is
// the real arity (the receiving node applies M:F to the list, whatever
// arity the request declares), and the arguments of the wrappers erpc and
// erlang:apply name the function that runs.
func decodeSpawnArgs(r *reader, m *Message) error {
	args, n, kind, err := r.list()
	if err != nil {
		return err
	}
	if kind == notList {
		return nil // not a list: the node fails the spawn with badarg
	}
	m.MFA.Arity = n
	mod, fun := m.MFA.Module, m.MFA.Function
	c := &m.Call
	switch {
	case bytes.Equal(mod, atomErpc) && bytes.Equal(fun, atomExecCall) && (n == 4 || n == 3):
		c.Via, c.Tag = ViaErpc, atomExecCall
		if n == 4 {
			if err := args.skip(1); err != nil { // the caller's reference
				return err
			}
		}
	case bytes.Equal(mod, atomErpc) && bytes.Equal(fun, atomExecCast) && n == 3:
		c.Via, c.Tag = ViaErpc, atomExecCast
	case bytes.Equal(mod, atomErlang) && bytes.Equal(fun, atomApply) && n == 3:
		c.Via, c.Tag = ViaApply, atomApply
	case bytes.Equal(mod, atomErlang) && bytes.Equal(fun, atomApply) && n == 2:
		c.Via, c.Tag = ViaApply, atomApply
		if kind == stringList {
			c.Unknown = true
			return nil
		}
		return decodeFunCall(args, c)
	default:
		return nil
	}
	if kind == stringList {
		c.Unknown = true // a list of bytes has no atoms to call
		return nil
	}
	return decodeMFA(args, c)
}

// decodeMFA reads M, F and the argument list A of a wrapped call.
func decodeMFA(r *reader, c *Call) error {
	mod, err := r.maybeAtom()
	if err != nil {
		return err
	}
	fun, err := r.maybeAtom()
	if err != nil {
		return err
	}
	_, n, kind, err := r.list()
	if err != nil {
		return err
	}
	if mod == nil || fun == nil || kind == notList {
		c.Unknown = true // the wrapper will fail, or is something else
		return nil
	}
	c.MFA = MFA{Module: mod, Function: fun, Arity: n}
	return nil
}

// decodeFunCall reads [Fun, Args] of erlang:apply/2: an external fun
// (fun M:F/A) names the function; a local fun runs code of its module
// that no name tells, and stays Unknown.
func decodeFunCall(r *reader, c *Call) error {
	t, err := r.open()
	if err != nil {
		return err
	}
	tag, err := t.peek()
	if err != nil {
		return err
	}
	if tag != tagExport {
		c.Unknown = true
		return nil
	}
	t.off++
	if c.MFA.Module, err = t.atom(); err != nil {
		return err
	}
	if c.MFA.Function, err = t.atom(); err != nil {
		return err
	}
	a, small, err := t.integer()
	if err != nil {
		return err
	}
	if !small {
		c.Unknown = true
		return nil
	}
	c.MFA.Arity = int(a)
	return nil
}

// decodeRequest reads a REG_SEND message for the requests of gen_server
// calls and casts, and of rex's plain messages: {'$gen_call', From, Req},
// {'$gen_cast', Req} or {From, Req}, where Req = {Tag, M, F, A, ...}
// (rex's {call, M, F, A, GroupLeader}, {block_call, ...}, {cast, ...}).
func decodeRequest(r *reader, m *Message) error {
	t, arity, err := r.tuple()
	if err != nil {
		return err
	}
	if arity != 2 && arity != 3 {
		return nil
	}
	first, err := t.maybeAtom()
	if err != nil {
		return err
	}
	c := &m.Call
	switch {
	case arity == 3 && bytes.Equal(first, atomGenCall):
		c.Via = ViaGenCall
		if err := t.skip(1); err != nil { // From
			return err
		}
	case arity == 2 && bytes.Equal(first, atomGenCast):
		c.Via = ViaGenCast
	case arity == 2:
		c.Via = ViaInfo
	default:
		return nil
	}
	req, n, err := t.tuple()
	if err != nil {
		return err
	}
	if n < 4 {
		c.Via = ViaNone // a request, but not of a call
		return nil
	}
	tag, err := req.maybeAtom()
	if err != nil {
		return err
	}
	if tag == nil {
		c.Via = ViaNone
		return nil
	}
	c.Tag = tag
	mod, err := req.maybeAtom()
	if err != nil {
		return err
	}
	fun, err := req.maybeAtom()
	if err != nil {
		return err
	}
	_, an, kind, err := req.list()
	if err != nil {
		return err
	}
	if mod == nil || fun == nil || kind == notList {
		c.Via, c.Tag = ViaNone, nil // {Tag, _, _, _}: not a call's shape
		return nil
	}
	c.MFA = MFA{Module: mod, Function: fun, Arity: an}
	return nil
}
