package distfilter

// decodeControl reads a control message into m, as the receiving node's
// erts_net_message (dist.c) reads it: a tuple whose first element is a
// small integer, the operation, with the arity that operation has. A
// control message the node would refuse ("invalid distribution
// message", which closes the connection) is a *BadError here too. An
// operation the filter does not know is OpUnknown, its elements skipped.
// r is left after the control message.
func decodeControl(r *reader, m *Message) error {
	t, arity, err := r.tuple()
	if err != nil {
		return err
	}
	if arity < 1 {
		return bad("control message is not a tuple")
	}
	dop, small, err := t.integer()
	if err != nil {
		return err
	}
	if !small || dop < 0 {
		return bad("control message operation is not a small integer")
	}
	m.DOP = int(dop)
	rest := arity - 1 // elements after the operation
	want := func(n int) error {
		if arity != n {
			return bad("control message of operation " + itoa(dop) + " with arity " + itoa(int64(arity)))
		}
		return nil
	}
	if dop < int64(len(fixedOps)) && fixedOps[dop].arity != 0 {
		f := fixedOps[dop]
		m.Op, m.Trace = f.op, f.trace
		if err := want(f.arity); err != nil {
			return err
		}
		return t.skip(rest)
	}
	switch dop {
	case dopRegSend, dopRegSendTT:
		m.Op, m.Trace = OpRegSend, dop == dopRegSendTT
		if err = want(4 + boolInt(m.Trace)); err != nil {
			return err
		}
		// From, Unused, ToName[, Token]
		if err = t.skip(2); err != nil {
			return err
		}
		if m.Name, err = t.atom(); err != nil {
			return err
		}
		rest = boolInt(m.Trace)
	case dopMonitorP, dopDemonitorP:
		m.Op = OpMonitor
		if dop == dopDemonitorP {
			m.Op = OpDemonitor
		}
		if err = want(4); err != nil {
			return err
		}
		// From, ToProc (a pid or a name), Ref
		if err = t.skip(1); err != nil {
			return err
		}
		if m.Name, err = t.maybeAtom(); err != nil {
			return err
		}
		rest = 1
	case dopMonitorPExit, dopPayloadMonitorExt:
		m.Op = OpMonitorExit
		if err = want(5 - boolInt(dop == dopPayloadMonitorExt)); err != nil {
			return err
		}
		// FromProc (a pid or a name), To, Ref[, Reason]
		if m.Name, err = t.maybeAtom(); err != nil {
			return err
		}
		rest = arity - 2
	case dopSpawnRequest, dopSpawnRequestTT:
		m.Op, m.Trace = OpSpawnRequest, dop == dopSpawnRequestTT
		if err = want(6 + boolInt(m.Trace)); err != nil {
			return err
		}
		if err = decodeSpawnRequest(t, m); err != nil {
			return err
		}
		rest = 1 + boolInt(m.Trace) // Opts[, Token]
	case dopAltactSigSend:
		// {37, Flags, From, To[, Token]}: the tuple may grow in later
		// releases; Flags is a non-negative integer whose low byte
		// holds the flags.
		if arity < 4 {
			return bad("altact signal of arity " + itoa(int64(arity)))
		}
		flags, small, err := t.integer()
		if err != nil {
			return err
		}
		if !small || flags < 0 {
			// A big integer's low byte: rare enough to read as unknown.
			return bad("altact signal flags are not a small non-negative integer")
		}
		if err = t.skip(1); err != nil { // From
			return err
		}
		switch {
		case flags&altactExit != 0:
			m.Op = OpExit2
			rest = arity - 3
		case flags&altactAlias != 0:
			m.Op = OpAliasSend
			rest = arity - 3
		case flags&altactName != 0:
			m.Op = OpRegSend
			if m.Name, err = t.atom(); err != nil {
				return err
			}
			rest = arity - 4
		default:
			m.Op = OpSend
			rest = arity - 3
		}
	default:
		m.Op = OpUnknown
	}
	if err != nil {
		return err
	}
	return t.skip(rest)
}

// fixedOp is an operation whose control message the filter reads no
// further than its number: its Op, whether it is a trace variant, and
// the arity its control message must have (0 in fixedOps: not one).
type fixedOp struct {
	op    Op
	trace bool
	arity int
}

// fixedOps are the fixedOp operations by number (message.go lists their
// control messages).
var fixedOps = [...]fixedOp{
	dopLink:           {OpLink, false, 3},
	dopSend:           {OpSend, false, 3},
	dopSendSender:     {OpSend, false, 3},
	dopSendTT:         {OpSend, true, 4},
	dopSendSenderTT:   {OpSend, true, 4},
	dopExit:           {OpExit, false, 4},
	dopExitTT:         {OpExit, true, 5},
	dopPayloadExit:    {OpExit, false, 3},
	dopPayloadExitTT:  {OpExit, true, 4},
	dopUnlink:         {OpUnlink, false, 3},
	dopUnlinkID:       {OpUnlink, false, 4},
	dopUnlinkIDAck:    {OpUnlinkAck, false, 4},
	dopGroupLeader:    {OpGroupLeader, false, 3},
	dopExit2:          {OpExit2, false, 4},
	dopExit2TT:        {OpExit2, true, 5},
	dopPayloadExit2:   {OpExit2, false, 3},
	dopPayloadExit2TT: {OpExit2, true, 4},
	dopSpawnReply:     {OpSpawnReply, false, 5},
	dopSpawnReplyTT:   {OpSpawnReply, true, 6},
	dopAliasSend:      {OpAliasSend, false, 3},
	dopAliasSendTT:    {OpAliasSend, true, 4},
}

// decodeSpawnRequest reads ReqId, From, GroupLeader and {M, F, Arity}.
func decodeSpawnRequest(t *reader, m *Message) error {
	var ok bool
	var err error
	if m.reqID, ok, err = t.identifier(); err != nil {
		return err
	}
	if !ok || (m.reqID.tag != tagNewerRef && m.reqID.tag != tagNewRef && m.reqID.tag != tagRef) {
		return bad("spawn request id is not a reference")
	}
	if m.from, ok, err = t.identifier(); err != nil {
		return err
	}
	if !ok || (m.from.tag != tagNewPid && m.from.tag != tagPid) {
		return bad("spawn request's caller is not a pid")
	}
	if err = t.skip(1); err != nil { // GroupLeader
		return err
	}
	mfa, arity, err := t.tuple()
	if err != nil {
		return err
	}
	if arity != 3 {
		return bad("spawn request MFA is not a 3-tuple")
	}
	if m.MFA.Module, err = mfa.atom(); err != nil {
		return err
	}
	if m.MFA.Function, err = mfa.atom(); err != nil {
		return err
	}
	a, small, err := mfa.integer()
	if err != nil {
		return err
	}
	if !small {
		return bad("spawn request arity is not a small integer")
	}
	m.MFA.Arity = int(a)
	return nil
}

// maybeAtom reads a term and returns its text when it is an atom, nil
// (after skipping it) when it is anything else.
func (r *reader) maybeAtom() ([]byte, error) {
	t, err := r.open()
	if err != nil {
		return nil, err
	}
	tag, err := t.peek()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagAtomCacheRef, tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF:
		return t.atom()
	}
	return nil, t.skip(1)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
