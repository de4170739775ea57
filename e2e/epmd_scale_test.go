package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
)

// TestTenThousandRegistrations holds 10,000 live registrations on a
// distgate epmd process and checks that lookups, NAMES and new
// registrations still work, and that all of them go when their
// connections close.
func TestTenThousandRegistrations(t *testing.T) {
	const n = 10000
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < n+1000 {
		t.Skipf("this process may open only %d files; the test needs %d", lim.Cur, n+1000)
	}
	port, daemon := startDistgateEpmd(t)
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: 10 * time.Second}
	ctx := context.Background()
	regs := make([]*epmd.Registered, n)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				r, err := c.Register(ctx, epmd.Alive2{Port: uint16(10000 + i%50000), NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: fmt.Sprintf("n%05d", i)})
				if err != nil {
					errs <- fmt.Errorf("register n%05d: %w", i, err)
					return
				}
				regs[i] = r
			}
		}()
	}
	wg.Wait()
	close(errs)
	defer func() {
		for _, r := range regs {
			if r != nil {
				r.Close()
			}
		}
	}()
	for err := range errs {
		t.Fatalf("%v\ndaemon output:\n%s", err, daemon.out)
	}
	_, names, err := c.Names(ctx)
	if err != nil || len(names) != n {
		t.Fatalf("NAMES: %d names, %v", len(names), err)
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		p, err := c.PortPlease(ctx, fmt.Sprintf("n%05d", i))
		if err != nil || p == nil || p.Port != uint16(10000+i%50000) {
			t.Fatalf("PORT_PLEASE2 n%05d = %+v, %v", i, p, err)
		}
	}
	if _, err := c.Register(ctx, epmd.Alive2{Port: 1, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "n00000"}); err == nil {
		t.Fatal("duplicate of a registered name accepted at 10k")
	}
	for _, r := range regs {
		r.Close()
	}
	waitUntil(t, "every registration to go", 30, func() bool {
		_, names, err := c.Names(ctx)
		return err == nil && len(names) == 0
	})
}
