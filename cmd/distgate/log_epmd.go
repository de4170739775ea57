package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// epmdLogHandler writes records as OTP's epmd writes its debug output:
// "epmd: <ctime>: message key=value\r\n" on standard error. Debug records
// appear with -d; errors always, unless detached. Values, which hold what
// local processes registered, are made printable.
type epmdLogHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func newEpmdLogHandler(w io.Writer, debug int, daemon bool) slog.Handler {
	level := slog.LevelWarn
	if debug > 0 {
		level = slog.LevelDebug
	}
	if daemon {
		w = io.Discard
	}
	return &epmdLogHandler{mu: new(sync.Mutex), w: w, level: level}
}

func (h *epmdLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *epmdLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "epmd: %s: %s", r.Time.Format(time.ANSIC), strings.TrimPrefix(r.Message, "epmd: "))
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%s", a.Key, printable(a.Value.String()))
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteString("\r\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *epmdLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

func (h *epmdLogHandler) WithGroup(string) slog.Handler { return h }
