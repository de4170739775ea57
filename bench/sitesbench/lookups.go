package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// phase is one row of the lookup table: a gateway's EPMD and a request,
// measured once per round.
type phase struct {
	name    string
	g       *gateway
	payload func(i int) []byte // the request of lookup i, unframed
	rounds  []result
}

// result is one lookup phase's outcome.
type result struct {
	ok, errors int64
	elapsed    time.Duration
	p50, p99   time.Duration
	cpu        time.Duration // the gateway's CPU time (user and system) over the phase
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r result) cpuPerLookup() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

// run measures the phase once more.
func (p *phase) run(o options) error {
	t0, err := cpuTime(p.g.proc)
	if err != nil {
		return err
	}
	r := drive(p.g.epmd, o, p.payload)
	t1, err := cpuTime(p.g.proc)
	if err != nil {
		return err
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

// extOK reports whether a LOOKUP_X reply is a success.
func extOK(b []byte) bool { return len(b) >= 7 && b[0] == 'l' && b[2] == 0 }

// drive runs o.clients clients for o.duration, each doing one lookup per
// connection, as OTP does.
func drive(port int, o options, payload func(i int) []byte) result {
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
			for i := c; time.Now().Before(deadline); i += o.clients {
				t0 := time.Now()
				reply, err := oneLookup(addr, epmd.AppendFrame(nil, payload(i)), buf)
				if err != nil || !extOK(reply) {
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

// register holds the ALIVE2 registrations of names at the EPMD on port,
// with parallel connections.
func register(ctx context.Context, port int, names []string, parallel int) ([]*epmd.Registered, error) {
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: 10 * time.Second}
	regs := make([]*epmd.Registered, len(names))
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	for w := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(names); i += parallel {
				r, err := c.Register(ctx, epmd.Alive2{Port: uint16(20000 + i%40000), NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: names[i]})
				if err != nil {
					errs[w] = fmt.Errorf("registration of %s: %w", names[i], err)
					return
				}
				regs[i] = r
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(regs)
		return nil, err
	}
	return regs, nil
}

func closeAll(regs []*epmd.Registered) {
	for _, r := range regs {
		if r != nil {
			r.Close()
		}
	}
}

// clockTicks is the unit of utime and stime in /proc/PID/stat.
const clockTicks = 100

// cpuTime returns a process's CPU time so far, user and system.
func cpuTime(c *child) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("%s: CPU time: %w", c.name, err)
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, errors.New(c.name + ": malformed /proc/PID/stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%s: CPU time: %w", c.name, err)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// propagation registers o.propagations names, one at a time, at agent a
// and measures how long each takes to be visible at the edge e (its
// directory cache, polled through the admin API every millisecond).
func (b *bench) propagation(ctx context.Context, a, e *gateway) ([]time.Duration, error) {
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(a.epmd), Timeout: 10 * time.Second}
	var out []time.Duration
	for i := range b.o.propagations {
		name := fmt.Sprintf("p%04d", i)
		t0 := time.Now()
		r, err := c.Register(ctx, epmd.Alive2{Port: uint16(30000 + i), NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: name})
		if err != nil {
			return nil, fmt.Errorf("registration of %s: %w", name, err)
		}
		err = waitEvery(time.Millisecond, name+" at "+e.name, 10*time.Second, func() bool {
			code, err := e.get("/v1/site/nodes/"+name, nil)
			return err == nil && code == http.StatusOK
		})
		d := time.Since(t0)
		r.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// waitEvery polls cond every step until it holds, for at most limit.
func waitEvery(step time.Duration, what string, limit time.Duration, cond func() bool) error {
	for deadline := time.Now().Add(limit); ; time.Sleep(step) {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %v for %s", limit, what)
		}
	}
}
