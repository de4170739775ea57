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
	if !g.log.Enabled(context.Background(), level) {
		return
	}
	sec := g.now().Unix()
	if s := g.second.Load(); s != sec && g.second.CompareAndSwap(s, sec) {
		g.count.Store(0)
	}
	if g.count.Add(1) > maxGuestRecords {
		g.dropped.Add(1)
		return
	}
	if n := g.dropped.Swap(0); n > 0 {
		g.log.Log(context.Background(), level, msg, "dropped", n)
		return
	}
	g.log.Log(context.Background(), level, msg)
}

// Write logs what a guest writes to stdout or stderr (a Go panic, a
// print), one warning per write, truncated to maxLogBytes.
func (g *guestLog) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > maxLogBytes {
		p = p[:maxLogBytes]
	}
	g.record(slog.LevelWarn, "policy output: "+string(p))
	return n, nil
}
