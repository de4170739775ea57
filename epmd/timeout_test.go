package epmd

import (
	"math"
	"testing"
	"time"
)

// TestIdleDeadline: when OTP 25's epmd closes a connection it serves
// alone, after one byte and silence (measured for 1, 2, 4, 5 and 7 s;
// the other rows follow from its code).
func TestIdleDeadline(t *testing.T) {
	last := time.Date(2024, 5, 1, 12, 0, 0, 999_000_000, time.UTC) // just before a second ticks over
	for _, tc := range []struct {
		timeout, after time.Duration
	}{
		{time.Second, 2 * time.Second},
		{2 * time.Second, 3 * time.Second},
		{4 * time.Second, 5 * time.Second},
		{5 * time.Second, 10 * time.Second}, // select() now wakes every 5 s
		{7 * time.Second, 10 * time.Second},
		{9 * time.Second, 10 * time.Second},
		{10 * time.Second, 15 * time.Second},
		{time.Minute, 65 * time.Second},
		{300 * time.Millisecond, time.Second}, // epmd counts whole seconds
		{math.MaxUint32 * time.Second, (math.MaxUint32 + 5) * time.Second},
	} {
		if got := idleDeadline(last, tc.timeout).Sub(last); got != tc.after {
			t.Errorf("packet timeout %v: closed %v after the last byte, want %v", tc.timeout, got, tc.after)
		}
	}
	if got := idleDeadline(last, math.MaxInt64); !got.IsZero() {
		t.Errorf("an endless timeout gives the deadline %v, want none", got)
	}
}
