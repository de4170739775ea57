package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/epmd"
)

// phase is one row of the lookup table: a daemon and a request, measured
// once per round.
type phase struct {
	name    string
	d       *daemonProc
	payload func(i int) []byte // the request of lookup i, unframed
	ok      func([]byte) bool  // whether a reply is a success
	rounds  []result
}

// run measures the phase once more.
func (p *phase) run(o options) error {
	t0, err := p.d.cpu()
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	r := drive(p.d.port, o, p.payload, p.ok)
	t1, err := p.d.cpu()
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	r.cpu = t1 - t0
	p.rounds = append(p.rounds, r)
	return nil
}

// median returns the round of median rate.
func (p *phase) median() result {
	rs := slices.Clone(p.rounds)
	slices.SortFunc(rs, func(a, b result) int {
		switch {
		case a.rate() < b.rate():
			return -1
		case a.rate() > b.rate():
			return 1
		}
		return 0
	})
	return rs[len(rs)/2]
}

// result is one lookup phase's outcome.
type result struct {
	ok, errors int64
	elapsed    time.Duration
	p50, p99   time.Duration
	cpu        time.Duration // the daemon's CPU time (user and system) over the phase
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// cpuPerLookup is the daemon's CPU time per successful lookup: with the
// clients on the same cores, a fairer measure of a daemon than its rate.
func (r result) cpuPerLookup() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

func classicOK(b []byte) bool { return len(b) >= 12 && b[0] == 'w' && b[1] == 0 }
func extOK(b []byte) bool     { return len(b) >= 7 && b[0] == 'l' && b[2] == 0 }

// drive runs o.clients clients for o.duration, each doing one lookup per
// connection, bounded also in count.
func drive(port int, o options, payload func(i int) []byte, ok func([]byte) bool) result {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var okN, errN atomic.Int64
	lat := make([][]time.Duration, o.clients)
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := c; time.Now().Before(deadline) && i < 10_000_000; i += o.clients {
				t0 := time.Now()
				reply, err := oneLookup(addr, epmd.AppendFrame(nil, payload(i)), buf)
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
	r := result{ok: okN.Load(), errors: errN.Load(), elapsed: time.Since(start)}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

func oneLookup(addr string, req, buf []byte) ([]byte, error) {
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

// register holds n ALIVE2 registrations.
func register(port, n int) ([]*epmd.Registered, error) {
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: 10 * time.Second}
	regs := make([]*epmd.Registered, 0, n)
	for i := range n {
		r, err := c.Register(context.Background(), epmd.Alive2{Port: uint16(20000 + i), NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: fmt.Sprintf("n%04d", i)})
		if err != nil {
			closeAll(regs)
			return nil, fmt.Errorf("registration %d: %w", i, err)
		}
		regs = append(regs, r)
	}
	return regs, nil
}

func closeAll(regs []*epmd.Registered) {
	for _, r := range regs {
		r.Close()
	}
}

// loadAvg returns the one-minute load average, "?" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
