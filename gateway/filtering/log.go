package filtering

import (
	"log/slog"
	"net/netip"

	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/events"
)

// refusalLog writes the filter's refusals at a bounded rate, to the log
// and as events: admit.Log's bounds (the first admit.LogPerKind refusals
// of each kind — action and operation, "deny spawn_request" — and
// admit.LogLines in all per admit.LogPeriod, then one summary).
type refusalLog struct {
	log    *slog.Logger
	events *events.Log // nil: none
	limit  *admit.Log
}

func newRefusalLog(log *slog.Logger, ev *events.Log) *refusalLog {
	return &refusalLog{log: log, events: ev, limit: admit.NewLog(log, "filter: message refused")}
}

// refused notes a refusal of kind; attrs and the event come with it when
// it is written.
func (l *refusalLog) refused(kind string, attrs func() []any, event func() events.Event) {
	if !l.limit.Allow(netip.Addr{}, kind) {
		return
	}
	l.log.Warn("filter: message refused", append([]any{"decision", kind}, attrs()...)...)
	if l.events != nil {
		l.events.Add(event())
	}
}

// close writes the summary of what is held and stops the timer.
func (l *refusalLog) close() { l.limit.Close() }
