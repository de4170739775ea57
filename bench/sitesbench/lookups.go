package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
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

// result is one lookup phase's outcome; its CPU is the gateway's.
type result = benchutil.Lookups

// run measures the phase once more.
func (p *phase) run(o options) error {
	t0, err := cpuTime(p.g.proc)
	if err != nil {
		return err
	}
	r := benchutil.Drive(p.g.epmd, o.clients, o.duration, 0, p.payload, benchutil.ExtOK)
	t1, err := cpuTime(p.g.proc)
	if err != nil {
		return err
	}
	r.CPU = t1 - t0
	p.rounds = append(p.rounds, r)
	return nil
}

// median returns the round of median rate.
func (p *phase) median() result { return benchutil.MedianRate(p.rounds) }

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

// cpuTime returns a process's CPU time so far, user and system.
func cpuTime(c *child) (time.Duration, error) {
	t, err := benchutil.CPUTime(c.Pid())
	if err != nil {
		return 0, fmt.Errorf("%s: CPU time: %w", c.Name, err)
	}
	return t, nil
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
