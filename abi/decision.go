package abi

import "fmt"

// Decision fields.
const (
	tagDcAllow  = 1 // u8: 1 allow, 0 refuse; absent = refuse
	tagDcReason = 2 // string: why
)

// Decision is a policy's answer to an AuthorizeRequest. The zero value
// refuses.
type Decision struct {
	Allow  bool
	Reason string // why; shown to the asker on a refusal and logged
}

// Allow returns a decision that allows.
func Allow() Decision { return Decision{Allow: true} }

// Refuse returns a decision that refuses, with a reason.
func Refuse(reason string) Decision { return Decision{Reason: reason} }

// Append appends the encoded decision to b.
func (d *Decision) Append(b []byte) []byte {
	b = appendHeader(b, TypeDecision)
	var allow byte
	if d.Allow {
		allow = 1
	}
	b = appendUint8Field(b, tagDcAllow, allow)
	if d.Reason != "" {
		b = appendStringField(b, tagDcReason, d.Reason)
	}
	return b
}

// ParseDecision decodes a Decision.
func ParseDecision(b []byte) (Decision, error) {
	var d Decision
	body, err := parseHeader(b, TypeDecision)
	if err != nil {
		return d, err
	}
	f := fields{s: body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagDcAllow:
			d.Allow, err = fieldBool(tag, v)
		case tagDcReason:
			d.Reason = v
		}
		if err != nil {
			return Decision{}, fmt.Errorf("abi: decision: %w", err)
		}
	}
	if f.err != nil {
		return Decision{}, fmt.Errorf("abi: decision: %w", f.err)
	}
	return d, nil
}

// Validate reports whether the gateway can act on d.
func (d *Decision) Validate() error {
	if len(d.Reason) > MaxStringLen {
		return fmt.Errorf("abi: decision: reason of %d bytes, at most %d: %w", len(d.Reason), MaxStringLen, ErrInvalid)
	}
	return nil
}
