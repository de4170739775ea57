package wasm

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// maxGuestRecords bounds the log records one policy version writes per
// second, through its log import and its stdout and stderr together.
const maxGuestRecords = 100

// guestLog is the log of a policy version's guests, shared by its
// instances. Beyond maxGuestRecords a second, records are dropped and
// counted; the next record that passes reports how many were dropped.
type guestLog struct {
	log *slog.Logger
	now func() time.Time

	second  atomic.Int64 // the Unix second being counted
	count   atomic.Int64 // records in it
	dropped atomic.Int64 // records dropped since the last one logged
}

// record logs msg at level, unless the rate is exceeded.
func (g *guestLog) record(level slog.Level, msg string) {
	if dropped, ok := g.admit(level); ok {
		g.emit(level, msg, dropped)
	}
}

// admit counts a record and reports whether it may be logged, with the
// number of records dropped before it. Records beyond the rate cost no
// more than this: a guest can write millions of them in one call.
func (g *guestLog) admit(level slog.Level) (dropped int64, ok bool) {
	if !g.log.Enabled(context.Background(), level) {
		return 0, false
	}
	sec := g.now().Unix()
	if s := g.second.Load(); s != sec && g.second.CompareAndSwap(s, sec) {
		g.count.Store(0)
	}
	if g.count.Add(1) > maxGuestRecords {
		g.dropped.Add(1)
		return 0, false
	}
	return g.dropped.Swap(0), true
}

func (g *guestLog) emit(level slog.Level, msg string, dropped int64) {
	if dropped > 0 {
		g.log.Log(context.Background(), level, msg, "dropped", dropped)
		return
	}
	g.log.Log(context.Background(), level, msg)
}

// Write logs what a guest writes to stdout or stderr (a Go panic, a
// print), one warning per write, truncated to maxLogBytes.
func (g *guestLog) Write(p []byte) (int, error) {
	n := len(p)
	if dropped, ok := g.admit(slog.LevelWarn); ok {
		g.emit(slog.LevelWarn, "policy output: "+string(p[:min(len(p), maxLogBytes)]), dropped)
	}
	return n, nil
}
