package link

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestRaceFailsOver: an address that never answers does not hold the
// dial: the next starts after the stagger and wins; one that fails at once
// hands over at once; the outcomes are noted.
func TestRaceFailsOver(t *testing.T) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	noted := map[string]bool{}
	note := func(a string, err error) { mu.Lock(); noted[a] = err == nil; mu.Unlock() }
	dial := func(ctx context.Context, a string) (string, error) {
		switch a {
		case "silent":
			<-ctx.Done()
			return "", ctx.Err()
		case "refuses":
			return "", errors.New("refused")
		}
		return "conn to " + a, nil
	}
	v, addr, err := race(context.Background(), &wg, []string{"refuses", "good"}, time.Hour, dial, func(string) {}, note)
	if err != nil || addr != "good" || v != "conn to good" {
		t.Fatalf("race = %q, %q, %v", v, addr, err)
	}
	// With an hour's stagger, "good" started only because "refuses"
	// failed; a silent address is overtaken after the stagger.
	v, addr, err = race(context.Background(), &wg, []string{"silent", "good"}, 20*time.Millisecond, dial, func(string) {}, note)
	if err != nil || addr != "good" {
		t.Fatalf("race past a silent address = %q, %q, %v", v, addr, err)
	}
	if _, _, err := race(context.Background(), &wg, []string{"refuses"}, time.Millisecond, dial, func(string) {}, note); err == nil {
		t.Fatal("a race of failures succeeded")
	}
	wg.Wait() // the silent dial ended with its race
	mu.Lock()
	defer mu.Unlock()
	if noted["refuses"] || !noted["good"] {
		t.Fatalf("noted %v", noted)
	}
}

// TestOrderPrefersHealthy: an address that failed lately goes last; a
// successful dial makes it healthy again.
func TestOrderPrefersHealthy(t *testing.T) {
	m := &Manager{health: map[string]*addrHealth{}, log: slog.New(slog.DiscardHandler)}
	addrs := []string{"e1:1", "e2:1", "e3:1"}
	m.noteDial("e1:1", errors.New("link died"))
	if got := m.order(addrs); !slices.Equal(got, []string{"e2:1", "e3:1", "e1:1"}) {
		t.Fatalf("order = %v", got)
	}
	m.noteDial("e1:1", nil)
	if got := m.order(addrs); !slices.Equal(got, addrs) {
		t.Fatalf("order after a good dial = %v", got)
	}
	// A link this gateway let go tells nothing against its edge; one it
	// found silent for its liveness died.
	m.noteDial("e1:1", &quic.ApplicationError{ErrorCode: codeGoingAway})
	if got := m.order(addrs); !slices.Equal(got, addrs) {
		t.Fatalf("order after a link let go = %v", got)
	}
	m.noteDial("e2:1", &quic.ApplicationError{ErrorCode: codeSilent})
	if got := m.order(addrs); !slices.Equal(got, []string{"e1:1", "e3:1", "e2:1"}) {
		t.Fatalf("order after a link found silent = %v", got)
	}
}
