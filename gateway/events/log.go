package events

import (
	"context"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// Log keeps the latest events in a ring of fixed size and writes the
// relays' events to the structured log. It is safe for concurrent use.
type Log struct {
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex // guards the following
	ring []Event    // ring[(seq-1) % len(ring)] is event seq
	last uint64     // the number of the latest event; 0: none yet
	wake chan struct{}
}

// NewLog returns a Log that keeps the latest size events (at least one),
// stamps them with now (time.Now when nil) and writes relays' events to
// log (nil: nowhere).
func NewLog(size int, log *slog.Logger, now func() time.Time) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Log{log: log, now: now, ring: make([]Event, max(size, 1)), wake: make(chan struct{})}
}

// What an event keeps of its words, in bytes: names (a caller, a target,
// a route) up to maxName, which holds any name OTP accepts (255 code
// points, '@', 255 more); a link or a detail up to maxDetail. Peers,
// policies and strangers write them: cut, they bound the ring's memory
// by its size (and the status page's poll, which carries the latest).
const (
	maxName   = 2048
	maxDetail = 1024
)

// clip cuts s to at most max bytes, on a character boundary, marking
// the cut with "…".
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Add numbers an event, stamps it when its Time is zero, keeps it (the
// oldest one kept goes; its words cut, see maxName) and logs it; it
// returns it as kept.
func (l *Log) Add(e Event) Event {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	for _, f := range []*string{&e.Caller, &e.Target, &e.Route, &e.Direction, &e.Transport} {
		*f = clip(*f, maxName)
	}
	e.Link, e.Detail = clip(e.Link, maxDetail), clip(e.Detail, maxDetail)
	l.mu.Lock()
	l.last++
	e.Seq = l.last
	l.ring[(e.Seq-1)%uint64(len(l.ring))] = e
	wake := l.wake
	l.wake = make(chan struct{})
	l.mu.Unlock()
	close(wake)
	l.write(&e)
	return e
}

// write logs a relay's event; links' and refusals' are logged where they
// happen, with more context.
func (l *Log) write(e *Event) {
	switch e.Kind {
	case Established:
		l.log.Info("relay established", "relay", e.Relay, "caller", e.Caller, "target", e.Target, "route", e.Route,
			"direction", e.Direction, "transport", e.Transport, "link", e.Link)
	case Ended:
		l.log.Info("relay ended", "relay", e.Relay, "caller", e.Caller, "target", e.Target, "route", e.Route,
			"direction", e.Direction, "transport", e.Transport, "reason", string(e.Reason), "detail", e.Detail,
			"duration", e.Duration.Round(time.Millisecond), "bytes_to_target", e.BytesToTarget, "bytes_to_caller", e.BytesToCaller)
	}
}

// Since returns the events kept with a number above seq that concern node
// (every event when node is ""), oldest first, at most limit of them (the
// latest; limit <= 0: all). Events that fell out of the ring are gone.
func (l *Log) Since(seq uint64, node string, limit int) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := uint64(1)
	if n := uint64(len(l.ring)); l.last > n {
		first = l.last - n + 1
	}
	first = max(first, seq+1)
	var out []Event
	for s := first; s <= l.last; s++ {
		e := &l.ring[(s-1)%uint64(len(l.ring))]
		if e.Concerns(node) {
			out = append(out, *e)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// Last returns the number of the latest event; 0 when there is none.
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Wait returns once an event with a number above seq exists, or with
// ctx's error.
func (l *Log) Wait(ctx context.Context, seq uint64) error {
	for {
		l.mu.Lock()
		last, wake := l.last, l.wake
		l.mu.Unlock()
		if last > seq {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
