package link

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLaterDeadline: the context outlives its parent's deadline by the
// time given, and ends with the parent's cancellation.
func TestLaterDeadline(t *testing.T) {
	parent, cancelParent := context.WithDeadline(context.Background(), time.Now().Add(10*time.Millisecond))
	defer cancelParent()
	later, cancel := laterDeadline(parent, time.Hour)
	defer cancel()
	pd, _ := parent.Deadline()
	if ld, ok := later.Deadline(); !ok || !ld.Equal(pd.Add(time.Hour)) {
		t.Fatalf("deadline %v, want %v", ld, pd.Add(time.Hour))
	}
	<-parent.Done()
	if later.Err() != nil {
		t.Fatalf("ended with its parent's deadline: %v", later.Err())
	}

	parent2, cancelParent2 := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	later2, cancel2 := laterDeadline(parent2, time.Hour)
	defer cancel2()
	cancelParent2()
	<-later2.Done()
	if !errors.Is(later2.Err(), context.Canceled) {
		t.Fatalf("after the parent's cancellation: %v", later2.Err())
	}
}

func turnManager(slots int, wait time.Duration) *Manager {
	m := &Manager{cfg: Config{TLSDialWait: wait}, tlsDials: map[string]chan struct{}{"b": make(chan struct{}, slots)}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// TestTLSTurn: a relay waiting for a handshake slot gets it when one is
// given back, even past its own deadline; it gives up after TLSDialWait,
// or when its context is cancelled.
func TestTLSTurn(t *testing.T) {
	m := turnManager(1, time.Hour)
	defer m.cancel()
	release, waited, err := m.tlsTurn(context.Background(), "b")
	if err != nil || waited != 0 {
		t.Fatalf("free slot: waited %v, %v", waited, err)
	}
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	got := make(chan error, 1)
	go func() {
		r, _, err := m.tlsTurn(expired, "b")
		if err == nil {
			r()
		}
		got <- err
	}()
	release()
	if err := <-got; err != nil {
		t.Fatalf("past its deadline, the queued relay did not get the slot: %v", err)
	}

	m2 := turnManager(1, time.Millisecond)
	defer m2.cancel()
	m2.tlsDials["b"] <- struct{}{}
	if _, _, err := m2.tlsTurn(context.Background(), "b"); err == nil {
		t.Fatal("no slot: no error after TLSDialWait")
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	m3 := turnManager(1, time.Hour)
	defer m3.cancel()
	m3.tlsDials["b"] <- struct{}{}
	if _, _, err := m3.tlsTurn(cctx, "b"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
