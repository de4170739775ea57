// Package filtering puts the filter policy in the path of relayed
// distribution connections. A Hub, one per gateway, wraps the remote side
// of a relay (Wrap) in a distribution filter (package distfilter) when a
// filter policy is active, and decides on what that filter decodes: it
// asks the policy once per connection (the operation "connect") and once
// per message shape (operation, names, functions), caches the verdicts
// per connection until the policy changes (Changed), counts every
// decision and logs denials and closes at a bounded rate.
//
// Without a filter policy Wrap returns the stream it was given: the
// connection is not decoded at all.
//
// A policy that fails (a trap, its deadline, garbage, the engine busy)
// fails closed: the message is denied, or the connection closed when the
// configuration says so (FailClose); a connection whose "connect" fails is
// filtered all the same (every message asked), or closed with FailClose. Calls go through the policy engine's bounded executors and
// deadlines, like lookups and authorizations: a hostile policy slows the
// connections it filters down to its deadline per new shape, then to
// nothing while the engine backs off from it, and never blocks anything
// else.
package filtering

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/gateway/distfilter"
	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/relay"
)

// Engine runs the filter policy (a *wasm.Engine).
type Engine interface {
	// Filter asks policy name about a message or a connection; on
	// failure it returns a denial and the error.
	Filter(ctx context.Context, name string, req *abi.FilterRequest) (abi.Verdict, error)
	// Filters reports whether policy name is loaded and exports the
	// filter hook.
	Filters(name string) bool
}

// Failure is what a filtered connection does with a message when the
// policy fails on it.
type Failure uint8

// Failure modes.
const (
	FailDeny  Failure = iota // deny the message (drop it; a spawn request fails)
	FailClose                // close the connection
)

// String returns "deny" or "close".
func (f Failure) String() string {
	if f == FailClose {
		return "close"
	}
	return "deny"
}

// MaxShapes bounds the verdicts a connection caches; a connection that
// sees more shapes starts its cache over.
const MaxShapes = 4096

// Config is what a Hub uses.
type Config struct {
	Engine Engine
	// Policy names the filter policy.
	Policy    string
	OnFailure Failure
	// Logger receives denials and closes (rate-limited) and failures.
	Logger *slog.Logger
	// Events, when set, keeps the refusals the Logger gets as events
	// (events.Filtered).
	Events *events.Log
	// Timed, when set, is told how long each call of the policy took
	// (decision "filter"); verdicts from a cache are not calls.
	Timed func(policy, decision string, d time.Duration)
	// Limits bound what a connection's decoder holds; zero: distfilter's
	// defaults.
	Limits distfilter.Limits
}

// Hub filters the relays of a gateway. It is safe for concurrent use.
type Hub struct {
	cfg  Config
	log  *slog.Logger
	logs *refusalLog // denials and closes, rate-limited

	gen   atomic.Uint64 // bumped by Changed: the caches' generation
	stats stats
}

// New returns a Hub. Close it to write the last log summary.
func New(cfg Config) *Hub {
	h := &Hub{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.logs = newRefusalLog(h.log, cfg.Events)
	return h
}

// Close writes the summary of the decisions not logged.
func (h *Hub) Close() { h.logs.close() }

// Active reports whether the filter policy is there: whether Wrap filters.
func (h *Hub) Active() bool {
	return h != nil && h.cfg.Engine != nil && h.cfg.Engine.Filters(h.cfg.Policy)
}

// Changed tells the Hub that policies changed (an upload, an activation,
// a rollback, a removal): every connection's cached verdicts are dropped
// before its next message.
func (h *Hub) Changed() {
	if h != nil {
		h.gen.Add(1)
	}
}

// Conn describes a relayed connection to filter.
type Conn struct {
	Relay uint64 // its ID in the relay table, for the events
	// Asker is the remote side as the gateway knows it; its label "via"
	// is added here from Via.
	Asker abi.Asker
	Via   string // "link", "public", "local"
	// LocalDialled says whether the local node dialled (a proxy port).
	LocalDialled bool
	// InPrefix and OutPrefix are the handshake framing of the bytes read
	// from the remote side and written to it: 2 (TCP distribution) or 4
	// (TLS distribution).
	InPrefix, OutPrefix int
	// Sent are handshake bytes the local node sent before the relay
	// started (the send_name a proxy port read), Received those the
	// remote side sent that were written to the local node already (a
	// TLS caller's send_name).
	Sent, Received []byte
}

// Wrap returns remote, the remote side of a relay, read through a filter
// when the filter policy is active, else remote itself (filtered false).
// ctx bounds the policy's calls: the relay's life.
func (h *Hub) Wrap(ctx context.Context, remote relay.Stream, c Conn) (s relay.Stream, filtered bool, err error) {
	if !h.Active() {
		return remote, false, nil
	}
	d := &decider{h: h, ctx: ctx, asker: c.Asker, relay: c.Relay, out: c.LocalDialled, gen: h.gen.Load()}
	if c.Via != "" {
		d.asker.Labels = append(append([]abi.Label(nil), c.Asker.Labels...), abi.Label{Key: "via", Value: c.Via})
	}
	f := distfilter.New(distfilter.Config{
		LocalDialled: c.LocalDialled, InPrefix: c.InPrefix, OutPrefix: c.OutPrefix,
		Decider: d, Limits: h.cfg.Limits,
	})
	if len(c.Sent) > 0 {
		if err := f.Out(c.Sent); err != nil {
			return nil, false, fmt.Errorf("filter: handshake: %w", err)
		}
	}
	if len(c.Received) > 0 {
		// Already written to the local node: what passes is dropped.
		if _, _, err := f.In(c.Received); err != nil {
			return nil, false, fmt.Errorf("filter: handshake: %w", err)
		}
	}
	h.stats.conns.Add(1)
	return relay.Filtered(remote, f), true, nil
}

// ops bounds the operations counted apart; later ones count as unknown.
const ops = int(abi.OpSpawnReply) + 1

// stats are the Hub's counters.
type stats struct {
	conns      atomic.Uint64
	unfiltered atomic.Uint64
	calls      atomic.Uint64 // verdicts asked of the policy
	cached     atomic.Uint64 // verdicts taken from a connection's cache
	failures   atomic.Uint64
	decisions  [3][ops]atomic.Uint64 // by action, then operation
}

// Stats are the counts of a Hub's decisions.
type Stats struct {
	Connections uint64 // connections filtered
	Unfiltered  uint64 // of which the policy passed whole at "connect"
	Calls       uint64 // verdicts asked of the policy
	Cached      uint64 // verdicts reused from a connection's cache
	Failures    uint64 // calls that failed (and failed closed)
	// Decisions counts messages (and connections, under "connect") by
	// action ("allow", "deny", "close") and operation ("spawn_request").
	Decisions map[string]map[string]uint64
}

// Stats returns the counts so far.
func (h *Hub) Stats() Stats {
	st := Stats{
		Connections: h.stats.conns.Load(), Unfiltered: h.stats.unfiltered.Load(),
		Calls: h.stats.calls.Load(), Cached: h.stats.cached.Load(), Failures: h.stats.failures.Load(),
		Decisions: map[string]map[string]uint64{},
	}
	for a := range h.stats.decisions {
		for op := range h.stats.decisions[a] {
			if n := h.stats.decisions[a][op].Load(); n > 0 {
				an := abi.FilterAction(a).String()
				if st.Decisions[an] == nil {
					st.Decisions[an] = map[string]uint64{}
				}
				st.Decisions[an][abi.Op(op).String()] = n
			}
		}
	}
	return st
}

// count counts a decision.
func (h *Hub) count(a abi.FilterAction, op abi.Op) {
	if int(a) >= len(h.stats.decisions) {
		a = abi.FilterDeny
	}
	if int(op) >= ops {
		op = abi.OpUnknown
	}
	h.stats.decisions[a][op].Add(1)
}
