package wasm

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestCheck(t *testing.T) {
	e := newEngine(t, Config{})
	if err := e.Check(ctx, staticMap(t), []byte(staticMapConfig)); err != nil {
		t.Fatalf("Check(static-map) = %v", err)
	}
	err := e.Check(ctx, staticMap(t), []byte(`{"routes": [{"match": "a", "site": "s", "transport": "udp"}]}`))
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), `transport "udp"`) {
		t.Fatalf("Check with a bad config = %v", err)
	}
	if err := e.Check(ctx, testdata(t, "abi_v2"), nil); !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Check(abi v2) = %v", err)
	}
	if infos := e.Policies(); len(infos) != 0 {
		t.Errorf("Check stored something: %+v", infos)
	}
}

// records counts the log records with a given message prefix.
type records struct {
	mu     sync.Mutex
	prefix string
	n      int
	attrs  []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.HasPrefix(rec.Message, r.prefix) {
		r.n++
		rec.Attrs(func(a slog.Attr) bool {
			r.attrs = append(r.attrs, a.String())
			return true
		})
	}
	return nil
}

func TestGuestLogRateLimit(t *testing.T) {
	clk := newClock()
	rec := &records{prefix: "logged config"}
	e := newEngine(t, Config{Now: clk.Now, Logger: slog.New(rec)})
	install(t, e, "echo", testdata(t, "echo_config"), "logged config")
	for i := 0; i < 3*maxGuestRecords; i++ {
		if _, err := e.Lookup(ctx, "echo", remoteReq); err != nil {
			t.Fatal(err)
		}
	}
	if rec.n != maxGuestRecords {
		t.Errorf("%d records in one second, want %d", rec.n, maxGuestRecords)
	}
	clk.Advance(1e9)
	e.Lookup(ctx, "echo", remoteReq)
	if rec.n != maxGuestRecords+1 || !strings.Contains(strings.Join(rec.attrs, " "), "dropped=200") {
		t.Errorf("next second: %d records, attrs %v; want one more, reporting 200 dropped", rec.n, rec.attrs)
	}
}
