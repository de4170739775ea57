package epmd

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// REGISTER_X fields.
const (
	tagRegName      = 1 // string: the node name without @host
	tagRegHost      = 2 // string: the host part, as the node knows it
	tagRegTransport = 3 // nested transport fields; repeated, in preference order
	tagRegNodeType  = 4 // uint8: 'M' (default) or 'H'
)

// REGISTER_X and ADD_TRANSPORTS reply fields.
const (
	tagRegCreation = 1 // uint32
)

// LOOKUP_X request fields.
const (
	tagLookNode   = 1 // string: name@host, or a bare name meaning this host
	tagLookAccept = 2 // string; repeated: protocols the asker accepts, preferred first
	tagLookAsker  = 3 // string: the asker's own node name
)

// LOOKUP_X reply fields.
const (
	tagLookEndpoint = 1 // nested transport fields plus tagTrNodeType; repeated
)

// NAMES_X reply fields.
const (
	tagNamesNode = 1 // nested node fields; repeated, newest registration first
)

// Node fields nested in a NAMES_X NODE.
const (
	tagNodeName      = 1 // string
	tagNodeHost      = 2 // string, when the node told it
	tagNodeType      = 3 // uint8
	tagNodeCreation  = 4 // uint32
	tagNodeTransport = 5 // nested transport fields; repeated
)

// Registration is a REGISTER_X request: one node name and every transport
// it listens on.
type Registration struct {
	Name       string
	Host       string
	NodeType   byte // NodeTypeNormal when zero
	Transports []Transport
}

// AppendRegister appends a REGISTER_X payload (without the length prefix).
func (r Registration) AppendRegister(b []byte) []byte {
	b = append(b, cmdRegisterX, ExtVersion)
	b = appendStringField(b, tagRegName, r.Name)
	if r.Host != "" {
		b = appendStringField(b, tagRegHost, r.Host)
	}
	if r.NodeType != 0 {
		b = appendUint8Field(b, tagRegNodeType, r.NodeType)
	}
	return appendTransports(b, tagRegTransport, r.Transports)
}

// AppendAddTransports appends an ADD_TRANSPORTS payload.
func AppendAddTransports(b []byte, ts []Transport) []byte {
	b = append(b, cmdAddTranspts, ExtVersion)
	return appendTransports(b, tagRegTransport, ts)
}

func appendTransports(b []byte, tag byte, ts []Transport) []byte {
	for _, t := range ts {
		var start int
		b, start = beginField(b, tag)
		b = t.appendFields(b)
		b = endField(b, start)
	}
	return b
}

// parseRegister parses a REGISTER_X payload (command and version bytes
// included).
func parseRegister(b []byte) (Registration, error) {
	r := Registration{NodeType: NodeTypeNormal}
	f := fields{b: b[2:]}
	var err error
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagRegName:
			r.Name = string(v)
		case tagRegHost:
			r.Host = string(v)
		case tagRegNodeType:
			r.NodeType, err = fieldUint8(tag, v)
		case tagRegTransport:
			var t Transport
			t, _, err = parseTransport(v)
			r.Transports = append(r.Transports, t)
		}
		if err != nil {
			return Registration{}, fmt.Errorf("epmd: register: %w", err)
		}
	}
	if f.err != nil {
		return Registration{}, fmt.Errorf("epmd: register: %w", f.err)
	}
	if r.Name == "" || strings.ContainsAny(r.Name, "@\x00") {
		return Registration{}, fmt.Errorf("epmd: register: name %q must be 1 or more bytes without '@' or NUL: %w", r.Name, errMalformed)
	}
	if err := validateName(r.Name, nil); err != nil {
		return Registration{}, fmt.Errorf("epmd: register: %v: %w", err, errMalformed)
	}
	if len(r.Host) > MaxSymLen || !utf8.ValidString(r.Host) || strings.ContainsAny(r.Host, "@\x00") {
		return Registration{}, fmt.Errorf("epmd: register: host %q is not a valid host name: %w", r.Host, errMalformed)
	}
	if err := checkTransportCount(len(r.Transports)); err != nil {
		return Registration{}, fmt.Errorf("epmd: register: %w", err)
	}
	return r, nil
}

// parseAddTransports parses an ADD_TRANSPORTS payload.
func parseAddTransports(b []byte) ([]Transport, error) {
	var ts []Transport
	f := fields{b: b[2:]}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		if tag != tagRegTransport {
			continue
		}
		t, _, err := parseTransport(v)
		if err != nil {
			return nil, fmt.Errorf("epmd: add transports: %w", err)
		}
		ts = append(ts, t)
	}
	if f.err != nil {
		return nil, fmt.Errorf("epmd: add transports: %w", f.err)
	}
	if err := checkTransportCount(len(ts)); err != nil {
		return nil, fmt.Errorf("epmd: add transports: %w", err)
	}
	return ts, nil
}

func checkTransportCount(n int) error {
	if n == 0 || n > MaxTransports {
		return fmt.Errorf("%d transports (want 1..%d): %w", n, MaxTransports, errMalformed)
	}
	return nil
}

// appendCreationReply appends the reply to REGISTER_X or ADD_TRANSPORTS.
func appendCreationReply(b []byte, code byte, status Status, creation uint32, msg string) []byte {
	var body []byte
	if status == StatusOK {
		body = appendUint32Field(body, tagRegCreation, creation)
	}
	if msg != "" {
		body = appendStringField(body, tagMessage, msg)
	}
	return appendExtReply(b, code, status, body)
}

// LookupRequest is a LOOKUP_X request.
type LookupRequest struct {
	// Node is the full node name name@host; a bare name means this host.
	Node string
	// Accept lists the protocols the asker can dial, preferred first;
	// empty means any.
	Accept []string
	// Asker is the asker's own node name, for policies and logs.
	Asker string
}

// Append appends the LOOKUP_X payload.
func (q LookupRequest) Append(b []byte) []byte {
	b = append(b, cmdLookupX, ExtVersion)
	b = appendStringField(b, tagLookNode, q.Node)
	for _, a := range q.Accept {
		b = appendStringField(b, tagLookAccept, a)
	}
	if q.Asker != "" {
		b = appendStringField(b, tagLookAsker, q.Asker)
	}
	return b
}

// SplitNode splits name@host; host is empty for a bare name. JoinNode is
// its inverse.
func SplitNode(node string) (name, host string) {
	name, host, _ = strings.Cut(node, "@")
	return name, host
}

// JoinNode returns name@host, or the bare name when host is empty.
func JoinNode(name, host string) string {
	if host == "" {
		return name
	}
	return name + "@" + host
}

func parseLookup(b []byte) (LookupRequest, error) {
	var q LookupRequest
	f := fields{b: b[2:]}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		switch tag {
		case tagLookNode:
			q.Node = string(v)
		case tagLookAccept:
			if len(q.Accept) >= MaxTransports {
				return LookupRequest{}, fmt.Errorf("epmd: lookup: more than %d accepted protocols: %w", MaxTransports, errMalformed)
			}
			q.Accept = append(q.Accept, string(v))
		case tagLookAsker:
			q.Asker = string(v)
		}
	}
	if f.err != nil {
		return LookupRequest{}, fmt.Errorf("epmd: lookup: %w", f.err)
	}
	name, host := SplitNode(q.Node)
	if name == "" || strings.IndexByte(q.Node, 0) >= 0 || strings.Count(q.Node, "@") > 1 {
		return LookupRequest{}, fmt.Errorf("epmd: lookup: node %q is not name or name@host: %w", q.Node, errMalformed)
	}
	if err := validateName(name, nil); err != nil {
		return LookupRequest{}, fmt.Errorf("epmd: lookup: %v: %w", err, errMalformed)
	}
	if len(host) > MaxSymLen || !utf8.ValidString(host) {
		return LookupRequest{}, fmt.Errorf("epmd: lookup: host of %q is not a valid host name: %w", q.Node, errMalformed)
	}
	return q, nil
}

// Endpoint is one answer to a lookup: a transport of the node, with the
// node's type.
type Endpoint struct {
	Transport
	NodeType byte
}

// appendLookupReply appends the reply to LOOKUP_X.
func appendLookupReply(b []byte, status Status, eps []Endpoint, msg string) []byte {
	var body []byte
	for _, ep := range eps {
		var start int
		body, start = beginField(body, tagLookEndpoint)
		body = ep.appendFields(body)
		body = appendUint8Field(body, tagTrNodeType, ep.NodeType)
		body = endField(body, start)
	}
	if msg != "" {
		body = appendStringField(body, tagMessage, msg)
	}
	return appendExtReply(b, respLookupX, status, body)
}

func parseLookupReplyBody(body []byte) ([]Endpoint, error) {
	var eps []Endpoint
	f := fields{b: body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		if tag != tagLookEndpoint {
			continue
		}
		t, nt, err := parseTransport(v)
		if err != nil {
			return nil, fmt.Errorf("epmd: lookup reply: %w", err)
		}
		eps = append(eps, Endpoint{Transport: t, NodeType: nt})
	}
	if f.err != nil {
		return nil, fmt.Errorf("epmd: lookup reply: %w", f.err)
	}
	return eps, nil
}

// AppendNamesX appends a NAMES_X payload.
func AppendNamesX(b []byte) []byte { return append(b, cmdNamesX, ExtVersion) }

// NodeInfo is one node of a NAMES_X reply.
type NodeInfo struct {
	Name       string
	Host       string
	NodeType   byte
	Creation   uint32
	Transports []Transport
}

func appendNamesXReply(b []byte, nodes []NodeInfo) []byte {
	var body []byte
	for _, n := range nodes {
		var start int
		body, start = beginField(body, tagNamesNode)
		body = appendStringField(body, tagNodeName, n.Name)
		if n.Host != "" {
			body = appendStringField(body, tagNodeHost, n.Host)
		}
		body = appendUint8Field(body, tagNodeType, n.NodeType)
		body = appendUint32Field(body, tagNodeCreation, n.Creation)
		body = appendTransports(body, tagNodeTransport, n.Transports)
		body = endField(body, start)
	}
	return appendExtReply(b, respNamesX, StatusOK, body)
}

func parseNamesXReplyBody(body []byte) ([]NodeInfo, error) {
	var nodes []NodeInfo
	f := fields{b: body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		if tag != tagNamesNode {
			continue
		}
		var n NodeInfo
		var err error
		nf := fields{b: v}
		for tag, v, ok := nf.next(); ok; tag, v, ok = nf.next() {
			switch tag {
			case tagNodeName:
				n.Name = string(v)
			case tagNodeHost:
				n.Host = string(v)
			case tagNodeType:
				n.NodeType, err = fieldUint8(tag, v)
			case tagNodeCreation:
				n.Creation, err = fieldUint32(tag, v)
			case tagNodeTransport:
				var t Transport
				t, _, err = parseTransport(v)
				n.Transports = append(n.Transports, t)
			}
			if err != nil {
				return nil, fmt.Errorf("epmd: names reply: %w", err)
			}
		}
		if nf.err != nil {
			return nil, fmt.Errorf("epmd: names reply: %w", nf.err)
		}
		nodes = append(nodes, n)
	}
	if f.err != nil {
		return nil, fmt.Errorf("epmd: names reply: %w", f.err)
	}
	return nodes, nil
}

// ParseLookupRequest parses a LOOKUP_X payload (command and version bytes
// included), for servers of the extension outside this package (remote
// queries over TLS).
func ParseLookupRequest(payload []byte) (LookupRequest, error) {
	if len(payload) < 2 || payload[0] != cmdLookupX || payload[1] == 0 {
		return LookupRequest{}, fmt.Errorf("epmd: not a LOOKUP_X request: %w", errMalformed)
	}
	return parseLookup(payload)
}

// IsNamesXRequest reports whether a payload is a NAMES_X request.
func IsNamesXRequest(payload []byte) bool {
	return len(payload) >= 2 && payload[0] == cmdNamesX && payload[1] != 0
}

// AppendLookupReply appends a LOOKUP_X reply.
func AppendLookupReply(b []byte, status Status, eps []Endpoint, msg string) []byte {
	return appendLookupReply(b, status, eps, msg)
}

// AppendNamesXReply appends a successful NAMES_X reply.
func AppendNamesXReply(b []byte, nodes []NodeInfo) []byte { return appendNamesXReply(b, nodes) }

// AppendNamesXRefusal appends a NAMES_X reply with a non-OK status.
func AppendNamesXRefusal(b []byte, status Status, msg string) []byte {
	return appendExtReply(b, respNamesX, status, appendStringField(nil, tagMessage, msg))
}

// AppendBadRequest appends a reply for a request code a server does not
// serve.
func AppendBadRequest(b []byte, code byte, msg string) []byte {
	return appendExtReply(b, code|0x20, StatusBadRequest, appendStringField(nil, tagMessage, msg))
}
