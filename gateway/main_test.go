package gateway

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every test's gateways, links and relays leave no
// goroutine behind once closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// certmagic refreshes a storage lock file in a goroutine that
		// notices the lock is gone only at its next 5-second tick.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"))
}
