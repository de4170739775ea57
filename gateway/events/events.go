// Package events keeps the life of every relayed connection as event
// records, to answer "why did that node go down?": a relay established
// (caller, target, route, transport, link), a relay ended (the reason,
// its duration, the bytes each way), a relay refused before it started
// (the reason), and the links to peer gateways going up and down.
//
// A Log holds the latest records in a bounded ring, numbered in order,
// and writes the relays' records to the structured log. Readers take the
// records after a number (Since) and wait for the next ones (Wait): that
// is `distgate events -follow`. The package is pure bookkeeping: it
// imports no other distgate package, and the relay table and the link
// layer fill in the reasons.
package events

import (
	"strings"
	"time"
)

// Kind is what happened.
type Kind string

// Kinds of events.
const (
	Established Kind = "established" // a relay started: both ends connected
	Ended       Kind = "ended"       // a relay ended; Reason says why
	Refused     Kind = "refused"     // a relay refused before it started; Reason says why
	LinkUp      Kind = "link_up"     // a link to a peer gateway came up
	LinkDown    Kind = "link_down"   // a link to a peer gateway went down; Detail says why
)

// Reason is why a relay ended, or was refused. The set is closed: the
// metrics count relays by it.
type Reason string

// Reasons. A relay ends because one of its ends closed, its link failed,
// or the gateway stopped; it is refused by a policy, for a target that is
// not there or does not answer, by the peer gateway, or for want of a
// link.
const (
	CallerClosed      Reason = "caller_closed"      // the calling node closed its connection
	TargetClosed      Reason = "target_closed"      // the node called closed its connection
	LinkLost          Reason = "link_lost"          // the link to the peer gateway failed (reset, peer gone)
	LivenessExpired   Reason = "liveness_expired"   // the link went silent for longer than the route's liveness
	PolicyDenied      Reason = "policy_denied"      // a policy (here or at the peer) refused the caller
	TargetUnknown     Reason = "target_unknown"     // no such node is registered where the route leads
	TargetUnreachable Reason = "target_unreachable" // the node is registered but did not accept the connection
	PeerRefused       Reason = "peer_refused"       // the peer gateway refused the stream (bad request, starting up)
	NoLink            Reason = "no_link"            // no link to the peer gateway could be opened (dial failed, backing off)
	GatewayShutdown   Reason = "gateway_shutdown"   // this gateway stopped
)

// Reasons lists every reason, in the order above.
func Reasons() []Reason {
	return []Reason{CallerClosed, TargetClosed, LinkLost, LivenessExpired, PolicyDenied,
		TargetUnknown, TargetUnreachable, PeerRefused, NoLink, GatewayShutdown}
}

// Text is the reason in words: "caller closed".
func (r Reason) Text() string { return strings.ReplaceAll(string(r), "_", " ") }

// Event is one record. Relays' records fill the relay's fields; links'
// records fill Route (the peer site), Transport, Link and, going down,
// Detail.
type Event struct {
	Seq       uint64    `json:"seq"`  // numbered from 1, in order
	Time      time.Time `json:"time"` // when it happened
	Kind      Kind      `json:"kind"`
	Relay     uint64    `json:"relay,omitempty"`     // the relay's ID, as in the status
	Caller    string    `json:"caller,omitempty"`    // the calling node's full name ("unauthenticated" when unverified)
	Target    string    `json:"target,omitempty"`    // the node called
	Route     string    `json:"route,omitempty"`     // the peer site the relay crosses, or "public" (TLS termination)
	Direction string    `json:"direction,omitempty"` // "out" (a node here calls) or "in" (a node here is called)
	Transport string    `json:"transport,omitempty"` // "quic", "tls" or "tls-terminated"
	Link      string    `json:"link,omitempty"`      // which link: its transport, remote address and liveness
	Reason    Reason    `json:"reason,omitempty"`    // ended and refused
	Detail    string    `json:"detail,omitempty"`    // the error or message behind the reason
	// Ended only: how long the relay lasted and the bytes each way.
	Duration      time.Duration `json:"duration_ns,omitempty"`
	BytesToTarget int64         `json:"bytes_to_target,omitempty"` // from the caller to the target
	BytesToCaller int64         `json:"bytes_to_caller,omitempty"` // from the target to the caller
}

// Concerns reports whether the event is about node: its caller or its
// target, by full name, or by the name before the @ when node has none.
// An empty node matches every event.
func (e *Event) Concerns(node string) bool {
	if node == "" {
		return true
	}
	return nodeIs(e.Caller, node) || nodeIs(e.Target, node)
}

func nodeIs(full, node string) bool {
	if full == "" {
		return false
	}
	name, host, _ := strings.Cut(full, "@")
	wantName, wantHost, full2 := strings.Cut(node, "@")
	if !full2 {
		return name == node
	}
	// Node names are compared as OTP does: the name exactly, the host
	// without case.
	return name == wantName && strings.EqualFold(host, wantHost)
}
