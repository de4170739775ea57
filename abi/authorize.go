package abi

import (
	"fmt"
	"strconv"
)

// AuthorizeRequest fields.
const (
	tagAzAction = 1 // u8: ActionList 1, ActionReach 2, ActionRegister 3
	tagAzNode   = 2 // string: the node concerned
	tagAzAsker  = 3 // nested asker
	tagAzLookup = 4 // u8: 1 when an ActionList is a lookup of Node by name (revision 1)
)

// Action is what an asker wants to do.
type Action uint8

// Actions. A new action may be added; a policy answers actions it does not
// know with a refusal (the SDK's default) or CodeUnsupported.
const (
	ActionList     Action = 1 // see names: Node is a name to show, or "" for the listing itself
	ActionReach    Action = 2 // open a distribution link to Node (a full name)
	ActionRegister Action = 3 // register Node (a name without host) with the gateway
)

// String returns a readable name.
func (a Action) String() string {
	switch a {
	case ActionList:
		return "list"
	case ActionReach:
		return "reach"
	case ActionRegister:
		return "register"
	}
	return "action " + strconv.Itoa(int(a))
}

// AuthorizeRequest asks a policy whether Asker may do Action on Node.
type AuthorizeRequest struct {
	Action Action
	// Node is the node concerned: the full name to reach, the name to
	// register, or a name the asker would see in a listing. For ActionList
	// the gateway first asks with Node "" (may it list at all), then once
	// per name to filter the listing.
	Node  string
	Asker Asker
	// Lookup is set, with ActionList, when the asker looks Node up by its
	// name (a remote LOOKUP_X, a PORT_PLEASE2 on the public EPMD) rather
	// than seeing it in a listing. The action stays ActionList so that a
	// policy written before revision 1 decides a lookup as it always has,
	// as seeing the name. Added in revision 1.
	Lookup bool
}

// Append appends the encoded request to b.
func (r *AuthorizeRequest) Append(b []byte) []byte {
	b = appendHeader(b, TypeAuthorizeRequest)
	b = appendUint8Field(b, tagAzAction, byte(r.Action))
	if r.Node != "" {
		b = appendStringField(b, tagAzNode, r.Node)
	}
	if !r.Asker.isZero() {
		var start int
		b, start = beginField(b, tagAzAsker)
		b = endField(r.Asker.append(b), start)
	}
	if r.Lookup {
		b = appendUint8Field(b, tagAzLookup, 1)
	}
	return b
}

// ParseAuthorizeRequest decodes an AuthorizeRequest.
func ParseAuthorizeRequest(b []byte) (AuthorizeRequest, error) {
	var r AuthorizeRequest
	body, err := parseHeader(b, TypeAuthorizeRequest)
	if err != nil {
		return r, err
	}
	f := fields{s: body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagAzAction:
			var a byte
			a, err = fieldUint8(tag, v)
			r.Action = Action(a)
		case tagAzNode:
			r.Node = v
		case tagAzAsker:
			r.Asker, err = parseAsker(v)
		case tagAzLookup:
			r.Lookup, err = fieldBool(tag, v)
		}
		if err != nil {
			return AuthorizeRequest{}, fmt.Errorf("abi: authorize request: %w", err)
		}
	}
	if f.err != nil {
		return AuthorizeRequest{}, fmt.Errorf("abi: authorize request: %w", f.err)
	}
	return r, nil
}
