package relay

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that relays and tickers leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
