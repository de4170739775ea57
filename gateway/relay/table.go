package relay

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/gateway/events"
)

// Direction says which side of a relay called.
type Direction uint8

// Directions of a relay.
const (
	Out Direction = iota + 1 // a local node called a remote one (a proxy port)
	In                       // a remote caller reaches a local node (a link, a TLS port)
)

// String returns "out" or "in".
func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	}
	return "none"
}

// MarshalText implements encoding.TextMarshaler: JSON shows "out" or "in".
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Direction) UnmarshalText(b []byte) error {
	switch string(b) {
	case "out":
		*d = Out
	case "in":
		*d = In
	default:
		*d = 0
	}
	return nil
}

// Unauthenticated is the Caller of a relay whose caller's node name could
// not be verified: the name in its send_name is what any local process may
// write, and is only logged.
const Unauthenticated = "unauthenticated"

// Info describes a relay in progress.
type Info struct {
	ID        uint64
	Caller    string // the calling node's verified full name, or Unauthenticated
	Target    string // the node called
	Site      string // the peer site, or "public" for a TLS port
	Transport string // "quic", "tls", or "tls-terminated"
	Direction Direction
	Link      string // the link it crosses (Linker.Describe); "" for a TLS port
	Started   time.Time
	Stats     Stats // From the local node: AToB; to it: BToA

	// Set when it ends, before Observer.Ended.
	Ended  time.Time
	Reason events.Reason
	Detail string
}

// BytesToTarget returns the bytes the caller sent the target so far.
func (r *Info) BytesToTarget() int64 {
	if r.Direction == Out { // the local node (a) calls
		return r.Stats.AToB.Load()
	}
	return r.Stats.BToA.Load()
}

// BytesToCaller returns the bytes the target sent the caller so far.
func (r *Info) BytesToCaller() int64 {
	if r.Direction == Out {
		return r.Stats.BToA.Load()
	}
	return r.Stats.AToB.Load()
}

// Refusal is a relay refused before it started.
type Refusal struct {
	Caller    string
	Target    string
	Site      string // the peer site, or "public"
	Transport string
	Direction Direction
	Reason    events.Reason
	Detail    string // the error or message behind the reason
}

// Observer is told of relays as they start, are refused and end: the
// gateway's metrics and event log.
type Observer interface {
	// Started is told of a relay that started.
	Started(ri *Info)
	// Ended is told of a relay that has ended, with its final counts and
	// the reason.
	Ended(ri *Info)
	// Refused is told of a relay refused before it started.
	Refused(r *Refusal)
}

// Classify tells, from the error that ended a relay on its link's side,
// whether the link failed and how (the link layer's EndReason).
type Classify func(err error) (events.Reason, bool)

// Table lists the relays in progress and tells its Observer of every
// relay's start, end and reason. It is safe for concurrent use.
type Table struct {
	obs      Observer
	classify Classify
	now      func() time.Time
	next     atomic.Uint64
	closing  atomic.Bool

	mu sync.Mutex // guards m
	m  map[uint64]*Info
}

// NewTable returns an empty table that tells obs (which may be nil) of
// every relay, and asks classify (which may be nil) why a relay's link
// side failed.
func NewTable(obs Observer, classify Classify) *Table {
	return &Table{obs: obs, classify: classify, now: time.Now, m: map[uint64]*Info{}}
}

// Add lists a relay that starts now; Remove it when it ends. link names
// the link it crosses ("" for none: a TLS port's caller).
func (t *Table) Add(caller, target, site, transport string, d Direction, link string) *Info {
	r := &Info{ID: t.next.Add(1), Caller: caller, Target: target, Site: site,
		Transport: transport, Direction: d, Link: link, Started: t.now()}
	t.mu.Lock()
	t.m[r.ID] = r
	t.mu.Unlock()
	if t.obs != nil {
		t.obs.Started(r)
	}
	return r
}

// Refused tells of a relay refused before it started.
func (t *Table) Refused(r Refusal) {
	if t.obs != nil {
		t.obs.Refused(&r)
	}
}

// Closing says the gateway is stopping: relays that end from now on end
// for that reason.
func (t *Table) Closing() { t.closing.Store(true) }

// Remove forgets a relay that has ended, after relay.Run returned: it
// notes why it ended and tells the Observer.
func (t *Table) Remove(r *Info) {
	t.mu.Lock()
	delete(t.m, r.ID)
	t.mu.Unlock()
	r.Ended = t.now()
	r.Reason, r.Detail = t.reason(r)
	if t.obs != nil {
		t.obs.Ended(r)
	}
}

// reason tells why a relay ended from which side ended it first: a local
// node (side a) closing, or the far side (b) — a link, whose failures the
// link layer classifies, or a TLS caller.
func (t *Table) reason(r *Info) (events.Reason, string) {
	end := r.Stats.End()
	detail := ""
	if end.Err != nil {
		detail = end.Err.Error()
	}
	if t.closing.Load() {
		return events.GatewayShutdown, detail
	}
	if end.Side == SideB && end.Err != nil && r.Link != "" && t.classify != nil {
		if reason, ok := t.classify(end.Err); ok {
			return reason, detail
		}
	}
	// The local node is a: the caller of an outgoing relay, the target of
	// an incoming one.
	if (end.Side == SideA) == (r.Direction == Out) {
		return events.CallerClosed, detail
	}
	return events.TargetClosed, detail
}

// Status is a relay as `distgate status` shows it.
type Status struct {
	ID        uint64    `json:"id"`
	Caller    string    `json:"caller"`
	Target    string    `json:"target"`
	Site      string    `json:"site"`
	Transport string    `json:"transport"`
	Direction Direction `json:"direction"`
	Started   time.Time `json:"started"`
	Link      string    `json:"link,omitempty"`
	BytesOut  int64     `json:"bytes_out"` // from the local node
	BytesIn   int64     `json:"bytes_in"`  // to the local node
}

// Status lists the relays in progress.
func (t *Table) Status() []Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Status, 0, len(t.m))
	for _, r := range t.m {
		out = append(out, Status{ID: r.ID, Caller: r.Caller, Target: r.Target, Site: r.Site, Transport: r.Transport,
			Direction: r.Direction, Link: r.Link, Started: r.Started, BytesOut: r.Stats.AToB.Load(), BytesIn: r.Stats.BToA.Load()})
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Len returns the number of relays in progress.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
