package relay

import (
	"sync"
	"sync/atomic"
	"time"
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
	Started   time.Time
	Stats     Stats // From the local node: AToB; to it: BToA
}

// Observer is told of relays as they start, are refused and end: the
// gateway's metrics.
type Observer interface {
	// Relayed counts a relay that started (ok) or was refused.
	Relayed(d Direction, transport string, ok bool)
	// Ended is told of a relay that has ended, with its final counts.
	Ended(ri *Info)
}

// Table lists the relays in progress. It is safe for concurrent use.
type Table struct {
	obs  Observer
	next atomic.Uint64

	mu sync.Mutex // guards m
	m  map[uint64]*Info
}

// NewTable returns an empty table that tells obs (which may be nil) of
// every relay.
func NewTable(obs Observer) *Table { return &Table{obs: obs, m: map[uint64]*Info{}} }

// Add lists a relay that starts now; Remove it when it ends.
func (t *Table) Add(caller, target, site, transport string, d Direction) *Info {
	r := &Info{ID: t.next.Add(1), Caller: caller, Target: target, Site: site,
		Transport: transport, Direction: d, Started: time.Now()}
	t.mu.Lock()
	t.m[r.ID] = r
	t.mu.Unlock()
	if t.obs != nil {
		t.obs.Relayed(d, transport, true)
	}
	return r
}

// Refused counts a relay refused before it started.
func (t *Table) Refused(d Direction, transport string) {
	if t.obs != nil {
		t.obs.Relayed(d, transport, false)
	}
}

// Remove forgets a relay that has ended.
func (t *Table) Remove(r *Info) {
	t.mu.Lock()
	delete(t.m, r.ID)
	t.mu.Unlock()
	if t.obs != nil {
		t.obs.Ended(r)
	}
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
			Direction: r.Direction, Started: r.Started, BytesOut: r.Stats.AToB.Load(), BytesIn: r.Stats.BToA.Load()})
	}
	return out
}

// Len returns the number of relays in progress.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
