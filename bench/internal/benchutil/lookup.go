package benchutil

import (
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/epmd"
)

// Lookups is the outcome of one phase of EPMD lookups.
type Lookups struct {
	OK, Errors int64
	Elapsed    time.Duration
	P50, P99   time.Duration // latency of the successful lookups
	CPU        time.Duration // the daemon's CPU time (user and system) over the phase, set by the caller
}

// Rate is the successful lookups per second.
func (r Lookups) Rate() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// CPUPerLookup is the daemon's CPU time per successful lookup: with the
// clients on the same cores, a fairer measure of a daemon than its rate.
func (r Lookups) CPUPerLookup() time.Duration {
	if r.OK == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.OK)
}

// MedianRate returns the round of median rate; rounds must not be empty.
func MedianRate(rounds []Lookups) Lookups {
	rs := slices.Clone(rounds)
	slices.SortFunc(rs, func(a, b Lookups) int {
		switch {
		case a.Rate() < b.Rate():
			return -1
		case a.Rate() > b.Rate():
			return 1
		}
		return 0
	})
	return rs[len(rs)/2]
}

// ClassicOK reports whether a PORT2_RESP reply is a success.
func ClassicOK(b []byte) bool { return len(b) >= 12 && b[0] == 'w' && b[1] == 0 }

// ExtOK reports whether a LOOKUP_X reply is a success.
func ExtOK(b []byte) bool { return len(b) >= 7 && b[0] == 'l' && b[2] == 0 }

// Drive runs clients clients against the EPMD on the loopback port for d,
// each doing one lookup per connection, as OTP does. Lookup i sends
// payload(i), framed; ok tells a success from its reply. When limit is
// positive, no lookup numbered limit or more is made.
func Drive(port, clients int, d time.Duration, limit int, payload func(i int) []byte, ok func([]byte) bool) Lookups {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var okN, errN atomic.Int64
	lat := make([][]time.Duration, clients)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := c; time.Now().Before(deadline) && (limit <= 0 || i < limit); i += clients {
				t0 := time.Now()
				reply, err := lookup(addr, epmd.AppendFrame(nil, payload(i)), buf)
				if err != nil || !ok(reply) {
					errN.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
				okN.Add(1)
			}
		}()
	}
	wg.Wait()
	r := Lookups{OK: okN.Load(), Errors: errN.Load(), Elapsed: time.Since(start)}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		r.P50, r.P99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

// lookup sends req on a new connection and returns the reply, read into
// buf until the close, or until an extension reply is whole.
func lookup(addr string, req, buf []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if err == io.EOF || n == len(buf) {
			return buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
		if n >= 7 && buf[0] == 'l' {
			// An extension reply says its length: no need to wait for the close.
			if body := int(buf[3])<<24 | int(buf[4])<<16 | int(buf[5])<<8 | int(buf[6]); n >= 7+body {
				return buf[:n], nil
			}
		}
	}
}
