package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// policyLogs keeps the recent log lines of each policy: what the policy
// itself logged through the host's log function, and what the engine
// logged about it (failures, installs, swaps).
type policyLogs struct {
	mu    sync.Mutex
	lines map[string][]string
}

func newPolicyLogs() *policyLogs { return &policyLogs{lines: map[string][]string{}} }

func (p *policyLogs) add(policy, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := append(p.lines[policy], line)
	if len(l) > policyLogLines {
		l = l[len(l)-policyLogLines:]
	}
	p.lines[policy] = l
}

// recent returns up to n of a policy's latest lines, oldest first.
func (p *policyLogs) recent(policy string, n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lines[policy]
	if n > 0 && len(l) > n {
		l = l[len(l)-n:]
	}
	return append([]string(nil), l...)
}

// captureHandler passes records on to the gateway's handler and keeps
// those tagged with a policy (the engine tags every record it writes about
// a policy with "policy").
type captureHandler struct {
	inner  slog.Handler
	logs   *policyLogs
	policy string
	attrs  []slog.Attr
}

func (h *captureHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.inner.Enabled(ctx, l)
}

func (h *captureHandler) Handle(ctx context.Context, r slog.Record) error {
	policy := h.policy
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Time.UTC().Format(time.RFC3339Nano), r.Level, r.Message)
	for _, a := range h.attrs {
		if a.Key != "policy" {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "policy" {
			policy = a.Value.String()
		} else {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	if policy != "" && r.Level >= slog.LevelInfo {
		h.logs.add(policy, b.String())
	}
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &captureHandler{inner: h.inner.WithAttrs(as), logs: h.logs, policy: h.policy, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
	for _, a := range as {
		if a.Key == "policy" {
			n.policy = a.Value.String()
		}
	}
	return n
}

func (h *captureHandler) WithGroup(name string) slog.Handler {
	return &captureHandler{inner: h.inner.WithGroup(name), logs: h.logs, policy: h.policy, attrs: h.attrs}
}
