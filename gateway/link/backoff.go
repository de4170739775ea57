package link

import (
	"fmt"
	"time"
)

// Redials of a link that failed wait twice as long as the last wait, from
// backoffMin up to backoffMax.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 2 * time.Second
)

// backoff spaces out redials of a link that failed. It is pure state: the
// time is passed in.
type backoff struct {
	failures int
	next     time.Time // no dial before then
	lastErr  error
}

// failed notes a failed dial at now.
func (b *backoff) failed(err error, now time.Time) {
	b.failures++
	b.lastErr = err
	b.next = now.Add(min(backoffMin<<min(b.failures-1, 8), backoffMax))
}

// refuse returns why key may not be dialled at now, or nil when it may (a
// nil backoff: the link has not failed).
func (b *backoff) refuse(key linkKey, now time.Time) error {
	if b == nil || !now.Before(b.next) {
		return nil
	}
	return fmt.Errorf("link to %s (%s) is down (%v); next attempt in %v", key.site, key.transport, b.lastErr, b.next.Sub(now).Round(time.Millisecond))
}
