package admit

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// A flood of refusals must not write a line each. In each period of
// LogPeriod, a Log writes the first LogPerKind refusals of each kind (the
// reason without its details) and LogLines in all as they come; it counts
// the others and writes one summary line when the period ends: how many,
// of which kinds, from how many sources.
const (
	LogPeriod  = 10 * time.Second
	LogPerKind = 3
	LogLines   = 10
	// logMaxSources bounds the distinct sources a summary counts.
	logMaxSources = 10_000
)

// Log writes one listener's refusals.
type Log struct {
	log *slog.Logger
	msg string

	mu      sync.Mutex // guards the following
	start   time.Time  // of the period
	lines   int
	perKind map[string]int
	held    map[string]int // refusals not written, by kind
	heldN   int
	sources map[netip.Addr]struct{} // of the refusals not written
	timer   *time.Timer             // writes the summary at the end of the period
	closed  bool
}

// NewLog returns a Log that writes msg ("link port: connection refused")
// with each refusal's attributes to log.
func NewLog(log *slog.Logger, msg string) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{log: log, msg: msg, perKind: map[string]int{}, held: map[string]int{}, sources: map[netip.Addr]struct{}{}}
}

// Refused notes a refusal of a connection from peer: kind is the reason
// without details (attrs carry them). A nil Log does nothing.
func (l *Log) Refused(peer netip.Addr, kind string, attrs ...any) {
	if l == nil {
		return
	}
	if l.note(peer, kind, time.Now()) {
		l.log.Warn(l.msg, append([]any{"peer", peer.String(), "reason", kind}, attrs...)...)
	}
}

// Allow counts a refusal of kind from peer (the zero Addr when it has
// none) like Refused, and reports whether the caller is to write it
// itself: for refusals whose line carries more than a Refused line does.
// What it holds back is summarised like Refused's.
func (l *Log) Allow(peer netip.Addr, kind string) bool {
	return l.note(peer, kind, time.Now())
}

// note counts a refusal at now and reports whether it is to be written.
func (l *Log) note(peer netip.Addr, kind string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() || now.Sub(l.start) >= LogPeriod {
		if l.heldN > 0 && l.timer == nil {
			l.flushLocked(now) // a period the timer did not close (tests)
		}
		l.start, l.lines = now, 0
		clear(l.perKind)
	}
	if l.lines < LogLines && l.perKind[kind] < LogPerKind {
		l.lines++
		l.perKind[kind]++
		return true
	}
	l.held[kind]++
	l.heldN++
	if peer.IsValid() && len(l.sources) < logMaxSources {
		l.sources[peer.Unmap()] = struct{}{}
	}
	if l.timer == nil && !l.closed {
		l.timer = time.AfterFunc(l.start.Add(LogPeriod).Sub(now), l.flush)
	}
	return false
}

func (l *Log) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	l.flushLocked(time.Now())
}

// flushLocked writes the summary of what was held, if anything.
func (l *Log) flushLocked(now time.Time) {
	if l.heldN == 0 {
		return
	}
	kinds := make([]string, 0, len(l.held))
	for k, n := range l.held {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	slices.Sort(kinds)
	attrs := []any{"not_logged", l.heldN}
	if len(l.sources) > 0 {
		attrs = append(attrs, "sources", len(l.sources))
	}
	l.log.Warn(l.msg+" (summary)", append(attrs,
		"since", now.Sub(l.start).Round(time.Second).String(), "reasons", strings.Join(kinds, ", "))...)
	clear(l.held)
	clear(l.sources)
	l.heldN = 0
}

// Close writes the summary of what is held and stops the timer.
func (l *Log) Close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.flushLocked(time.Now())
}
