package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
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
	// Bounded also in count.
	r := benchutil.Drive(p.d.port, o.clients, o.duration, 10_000_000, p.payload, p.ok)
	t1, err := p.d.cpu()
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	r.CPU = t1 - t0
	p.rounds = append(p.rounds, r)
	return nil
}

// median returns the round of median rate.
func (p *phase) median() result { return benchutil.MedianRate(p.rounds) }

// result is one lookup phase's outcome.
type result = benchutil.Lookups

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
