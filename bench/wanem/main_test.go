package wanem

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every emulator, testbed and control server leaves
// no goroutine behind once closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
