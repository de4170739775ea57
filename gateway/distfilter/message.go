package distfilter

import "strconv"

// Op is what a distribution message does, with the trace-token and
// payload variants of an operation folded together (DOP holds the exact
// one). The values are those of the policy ABI (abi.Op).
type Op uint8

// Operations.
const (
	OpUnknown      Op = 0  // an operation the gateway does not know: Message.DOP says which
	OpConnect      Op = 1  // not a message: a connection whose handshake is done (Decider.Connect)
	OpSend         Op = 2  // a message to a pid: SEND, SEND_TT, SEND_SENDER, SEND_SENDER_TT
	OpRegSend      Op = 3  // a message to a registered name (Name): REG_SEND, REG_SEND_TT
	OpAliasSend    Op = 4  // a message to an alias: ALIAS_SEND, ALIAS_SEND_TT
	OpLink         Op = 5  // LINK
	OpUnlink       Op = 6  // UNLINK, UNLINK_ID
	OpUnlinkAck    Op = 7  // UNLINK_ID_ACK
	OpExit         Op = 8  // a linked process died: EXIT, EXIT_TT, PAYLOAD_EXIT, PAYLOAD_EXIT_TT
	OpExit2        Op = 9  // exit/2 to a process: EXIT2, EXIT2_TT, PAYLOAD_EXIT2, PAYLOAD_EXIT2_TT
	OpMonitor      Op = 10 // MONITOR_P, of a pid or a name (Name)
	OpDemonitor    Op = 11 // DEMONITOR_P, of a pid or a name (Name)
	OpMonitorExit  Op = 12 // a monitored process died: MONITOR_P_EXIT, PAYLOAD_MONITOR_P_EXIT
	OpGroupLeader  Op = 13 // GROUP_LEADER
	OpSpawnRequest Op = 14 // SPAWN_REQUEST, SPAWN_REQUEST_TT: spawn MFA on the receiving node
	OpSpawnReply   Op = 15 // SPAWN_REPLY, SPAWN_REPLY_TT
)

var opNames = [...]string{"unknown", "connect", "send", "reg_send", "alias_send", "link", "unlink", "unlink_ack",
	"exit", "exit2", "monitor", "demonitor", "monitor_exit", "group_leader", "spawn_request", "spawn_reply"}

// String returns the operation's name as the ABI documents it ("reg_send").
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op " + strconv.Itoa(int(o))
}

// Distribution operations as received (erts/emulator/beam/dist.h, enum
// dop), with their control messages.
const (
	dopLink              = 1  // {1, From, To}
	dopSend              = 2  // {2, Unused, To} Payload
	dopExit              = 3  // {3, From, To, Reason}
	dopUnlink            = 4  // {4, From, To}
	dopRegSend           = 6  // {6, From, Unused, ToName} Payload
	dopGroupLeader       = 7  // {7, From, To}
	dopExit2             = 8  // {8, From, To, Reason}
	dopSendTT            = 12 // {12, Unused, To, Token} Payload
	dopExitTT            = 13 // {13, From, To, Token, Reason}
	dopRegSendTT         = 16 // {16, From, Unused, ToName, Token} Payload
	dopExit2TT           = 18 // {18, From, To, Token, Reason}
	dopMonitorP          = 19 // {19, From, ToProc, Ref}: ToProc a pid or a name
	dopDemonitorP        = 20 // {20, From, ToProc, Ref}
	dopMonitorPExit      = 21 // {21, FromProc, To, Ref, Reason}
	dopSendSender        = 22 // {22, From, To} Payload
	dopSendSenderTT      = 23 // {23, From, To, Token} Payload
	dopPayloadExit       = 24 // {24, From, To} Reason
	dopPayloadExitTT     = 25 // {25, From, To, Token} Reason
	dopPayloadExit2      = 26 // {26, From, To} Reason
	dopPayloadExit2TT    = 27 // {27, From, To, Token} Reason
	dopPayloadMonitorExt = 28 // {28, FromProc, To, Ref} Reason
	dopSpawnRequest      = 29 // {29, ReqId, From, GroupLeader, {M, F, Arity}, Opts} Args
	dopSpawnRequestTT    = 30 // {30, ReqId, From, GroupLeader, {M, F, Arity}, Opts, Token} Args
	dopSpawnReply        = 31 // {31, ReqId, To, Flags, Result}
	dopSpawnReplyTT      = 32 // {32, ReqId, To, Flags, Result, Token}
	dopAliasSend         = 33 // {33, From, Alias} Payload
	dopAliasSendTT       = 34 // {34, From, Alias, Token} Payload
	dopUnlinkID          = 35 // {35, Id, From, To}
	dopUnlinkIDAck       = 36 // {36, Id, From, To}
	dopAltactSigSend     = 37 // {37, Flags, From, To[, Token]} Payload (OTP 28)
)

// Flags of DOP_ALTACT_SIG_SEND (ERTS_DOP_ALTACT_SIG_FLG_*).
const (
	altactAlias = 1 << 2 // To is an alias
	altactName  = 1 << 3 // To is a registered name
	altactExit  = 1 << 4 // an exit signal, not a message
)

// MFA is a module, a function and an arity.
type MFA struct {
	Module, Function []byte
	Arity            int
}

// CallVia is how a message carries a call of a function on the receiving
// node (Call).
type CallVia uint8

// Shapes of calls the filter recognizes. Spawn requests run their MFA;
// these wrappers run another function, read from their arguments:
const (
	ViaNone    CallVia = 0
	ViaErpc    CallVia = 1 // spawn of erpc:execute_call/4 [Ref, M, F, A], erpc:execute_call/3 or erpc:execute_cast/3 [M, F, A] (erpc:call, erpc:cast, rpc:call of OTP 23+)
	ViaApply   CallVia = 2 // spawn of erlang:apply/3 [M, F, A], erlang:apply/2 [Fun, A] (spawn(N, erlang, apply, ...))
	ViaGenCall CallVia = 3 // REG_SEND of {'$gen_call', From, {Tag, M, F, A, ...}} (rex calls of rpc:call before OTP 23, block_call)
	ViaGenCast CallVia = 4 // REG_SEND of {'$gen_cast', {Tag, M, F, A, ...}} (rpc:cast, rpc:abcast of rex)
	ViaInfo    CallVia = 5 // REG_SEND of {From, {Tag, M, F, A, ...}} (rex's calls from C nodes)
)

var viaNames = [...]string{"", "erpc", "apply", "gen_call", "gen_cast", "info"}

// String returns the shape's name as the ABI documents it.
func (v CallVia) String() string {
	if int(v) < len(viaNames) {
		return viaNames[v]
	}
	return "via " + strconv.Itoa(int(v))
}

// Call is the call of a function a message carries inside a wrapper.
type Call struct {
	Via CallVia
	Tag []byte // the request's tag: call, cast, block_call, ... (gen_call, gen_cast, info); execute_call, execute_cast, apply (spawns)
	MFA MFA
	// Unknown is set when the message has the shape of a call but the
	// filter could not read it within its limits (a wrapper's arguments
	// beyond the first fragment or MaxCallBytes, a fun that is not an
	// export): a policy that cares about calls should deny it.
	Unknown bool
}

// Message is one distribution message as a policy sees it. Its byte
// slices are valid until the next message.
type Message struct {
	Op  Op
	DOP int // the operation number as received
	// Trace is set for the variants that carry a sequential trace token.
	Trace bool
	// Name is the registered name a message is sent to (OpRegSend), or a
	// monitor of a name is of (OpMonitor, OpDemonitor, OpMonitorExit).
	Name []byte
	// MFA is what a spawn request runs; Arity is the length of its
	// argument list when the filter read it, else the arity the request
	// declares.
	MFA  MFA
	Call Call

	reqID, from term // a spawn request's, for its reply
}

// reset clears m for the next message.
func (m *Message) reset() {
	*m = Message{}
}
