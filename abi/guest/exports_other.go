//go:build !wasip1

package guest

import (
	"time"

	"github.com/distgate/distgate/abi"
)

// Log logs msg at level into the gateway's log. Outside wasip1 (in a
// policy's native tests) it does nothing.
func Log(level abi.LogLevel, msg string) {}

// Now returns the gateway's clock; outside wasip1, the system clock.
func Now() time.Time { return time.Now() }
