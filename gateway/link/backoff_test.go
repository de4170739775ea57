package link

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	key := linkKey{site: "b", transport: QUIC}
	var none *backoff
	now := time.Unix(1000, 0)
	if err := none.refuse(key, now); err != nil {
		t.Fatalf("a link that never failed: %v", err)
	}
	b := &backoff{}
	cause := errors.New("connection refused")
	for i, want := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000} {
		b.failed(cause, now)
		want *= time.Millisecond
		if err := b.refuse(key, now.Add(want-time.Millisecond)); err == nil {
			t.Fatalf("failure %d: dialled again before %v", i+1, want)
		} else if !strings.Contains(err.Error(), "link to b (quic) is down (connection refused)") {
			t.Fatalf("failure %d: %v", i+1, err)
		}
		if err := b.refuse(key, now.Add(want)); err != nil {
			t.Fatalf("failure %d: not dialled after %v: %v", i+1, want, err)
		}
	}
}
