package wasm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/distgate/distgate/abi"
)

// MeasureDecisions times n lookups of req on policy name, one after the
// other, each end to end in process: encode the request, call the guest,
// decode and validate the route. It warms the policy up first (n/10
// lookups, at least 100) and returns the median and the 99th percentile.
// It fails on the first lookup that fails. It is what the bench-policy
// command runs.
func MeasureDecisions(ctx context.Context, e *Engine, name string, req *abi.LookupRequest, n int) (p50, p99 time.Duration, err error) {
	if n <= 0 {
		return 0, 0, errors.New("wasm: measure: n must be positive")
	}
	for i := 0; i < max(n/10, 100); i++ {
		if _, err := e.Lookup(ctx, name, req); err != nil {
			return 0, 0, fmt.Errorf("wasm: measure: warm-up: %w", err)
		}
	}
	d := make([]time.Duration, n)
	for i := range d {
		start := time.Now()
		_, err := e.Lookup(ctx, name, req)
		d[i] = time.Since(start)
		if err != nil {
			return 0, 0, fmt.Errorf("wasm: measure: lookup %d: %w", i, err)
		}
	}
	slices.Sort(d)
	return d[n/2], d[min(n*99/100, n-1)], nil
}
