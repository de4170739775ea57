package abi

import (
	"fmt"
	"strconv"
)

// Verdict fields (revision 4).
const (
	tagVdAction     = 1 // u8: a FilterAction; absent = deny
	tagVdReason     = 2 // string: why (logged)
	tagVdUnfiltered = 3 // u8: on OpConnect, 1 = pass the connection without asking again
	tagVdNoCache    = 4 // u8: 1 = ask again for the next message of this shape
)

// FilterAction is what a filter policy decides for a message.
type FilterAction uint8

// Filter actions (revision 4). A new action may be added; a host refuses
// (fails closed on) an action it does not know.
const (
	// FilterDeny drops the message. A spawn request is answered with an
	// error, so that the caller's erpc:call or spawn fails at once. On
	// OpConnect it closes the connection.
	FilterDeny FilterAction = 0
	// FilterAllow passes the message.
	FilterAllow FilterAction = 1
	// FilterClose closes the connection.
	FilterClose FilterAction = 2
)

// String returns "deny", "allow" or "close".
func (a FilterAction) String() string {
	switch a {
	case FilterDeny:
		return "deny"
	case FilterAllow:
		return "allow"
	case FilterClose:
		return "close"
	}
	return "action " + strconv.Itoa(int(a))
}

// Verdict is a filter policy's answer to a FilterRequest. The zero value
// denies. Revision 4.
type Verdict struct {
	Action FilterAction
	Reason string // logged with the decision
	// Unfiltered, with FilterAllow on OpConnect, passes the connection's
	// messages without decoding them: the policy is not asked again.
	Unfiltered bool
	// NoCache asks the gateway not to reuse the verdict for the next
	// messages of the same shape (operation, names, functions) on the
	// connection: the policy is asked each time (a rate limit, a clock).
	NoCache bool
}

// AllowMessage returns a verdict that passes the message.
func AllowMessage() Verdict { return Verdict{Action: FilterAllow} }

// DenyMessage returns a verdict that drops the message, with a reason.
func DenyMessage(reason string) Verdict { return Verdict{Action: FilterDeny, Reason: reason} }

// CloseConnection returns a verdict that closes the connection.
func CloseConnection(reason string) Verdict { return Verdict{Action: FilterClose, Reason: reason} }

// Append appends the encoded verdict to b.
func (v *Verdict) Append(b []byte) []byte {
	b = appendHeader(b, TypeVerdict)
	b = appendUint8Field(b, tagVdAction, byte(v.Action))
	if v.Reason != "" {
		b = appendStringField(b, tagVdReason, v.Reason)
	}
	if v.Unfiltered {
		b = appendUint8Field(b, tagVdUnfiltered, 1)
	}
	if v.NoCache {
		b = appendUint8Field(b, tagVdNoCache, 1)
	}
	return b
}

// ParseVerdict decodes a Verdict.
func ParseVerdict(b []byte) (Verdict, error) {
	var v Verdict
	body, err := parseHeader(b, TypeVerdict)
	if err != nil {
		return v, err
	}
	f := fields{s: body}
	for tag, val, ok := f.next(); ok; tag, val, ok = f.next() {
		switch tag {
		case tagVdAction:
			var a byte
			a, err = fieldUint8(tag, val)
			v.Action = FilterAction(a)
		case tagVdReason:
			v.Reason = val
		case tagVdUnfiltered:
			v.Unfiltered, err = fieldBool(tag, val)
		case tagVdNoCache:
			v.NoCache, err = fieldBool(tag, val)
		}
		if err != nil {
			return Verdict{}, fmt.Errorf("abi: verdict: %w", err)
		}
	}
	if f.err != nil {
		return Verdict{}, fmt.Errorf("abi: verdict: %w", f.err)
	}
	return v, nil
}

// Validate reports whether the gateway can act on v.
func (v *Verdict) Validate() error {
	if v.Action > FilterClose {
		return fmt.Errorf("abi: verdict: unknown action %d: %w", v.Action, ErrInvalid)
	}
	if len(v.Reason) > MaxStringLen {
		return fmt.Errorf("abi: verdict: reason of %d bytes, at most %d: %w", len(v.Reason), MaxStringLen, ErrInvalid)
	}
	return nil
}
