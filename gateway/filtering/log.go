package filtering

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distgate/distgate/gateway/events"
)

// A flood of refused messages must not write a line each. In each period
// of logPeriod, a refusalLog writes the first logPerKind refusals of each
// kind (action and operation: "deny spawn_request") and logLines in all;
// it counts the others and writes one summary line when the period ends.
const (
	logPeriod  = 10 * time.Second
	logPerKind = 3
	logLines   = 10
)

// refusalLog writes the filter's refusals at a bounded rate, to the log
// and as events.
type refusalLog struct {
	log    *slog.Logger
	events *events.Log // nil: none

	mu      sync.Mutex // guards the following
	start   time.Time  // of the period
	lines   int
	perKind map[string]int
	held    map[string]int // refusals not written, by kind
	heldN   int
	timer   *time.Timer // writes the summary at the end of the period
	closed  bool
}

func newRefusalLog(log *slog.Logger, ev *events.Log) *refusalLog {
	return &refusalLog{log: log, events: ev, perKind: map[string]int{}, held: map[string]int{}}
}

// refused notes a refusal of kind; attrs and the event come with it when
// it is written.
func (l *refusalLog) refused(kind string, attrs func() []any, event func() events.Event) {
	if !l.note(kind, time.Now()) {
		return
	}
	l.log.Warn("filter: message refused", append([]any{"decision", kind}, attrs()...)...)
	if l.events != nil {
		l.events.Add(event())
	}
}

// note counts a refusal at now and reports whether it is to be written.
func (l *refusalLog) note(kind string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() || now.Sub(l.start) >= logPeriod {
		if l.heldN > 0 && l.timer == nil {
			l.flushLocked(now)
		}
		l.start, l.lines = now, 0
		clear(l.perKind)
	}
	if l.lines < logLines && l.perKind[kind] < logPerKind {
		l.lines++
		l.perKind[kind]++
		return true
	}
	l.held[kind]++
	l.heldN++
	if l.timer == nil && !l.closed {
		l.timer = time.AfterFunc(l.start.Add(logPeriod).Sub(now), l.flush)
	}
	return false
}

func (l *refusalLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	l.flushLocked(time.Now())
}

// flushLocked writes the summary of what was held, if anything.
func (l *refusalLog) flushLocked(now time.Time) {
	if l.heldN == 0 {
		return
	}
	kinds := make([]string, 0, len(l.held))
	for k, n := range l.held {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	slices.Sort(kinds)
	l.log.Warn("filter: messages refused (summary)", "not_logged", l.heldN,
		"since", now.Sub(l.start).Round(time.Second).String(), "decisions", strings.Join(kinds, ", "))
	clear(l.held)
	l.heldN = 0
}

// close writes the summary of what is held and stops the timer.
func (l *refusalLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.flushLocked(time.Now())
}
