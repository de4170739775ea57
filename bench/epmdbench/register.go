//go:build linux

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/distgate/distgate/epmd"
)

// maxNames bounds -names and -bignames: names are n0001..n99999 and their
// listen ports basePort+i must fit in 16 bits.
const maxNames = 50000

// basePort + i is the port registered for name i.
const basePort = 10000

// registerWorkers is how many registrations are in flight at once.
const registerWorkers = 16

func nodeName(i int) string { return fmt.Sprintf("n%04d", i) }

// registrations are ALIVE2 registrations this process holds open: a node
// stays registered for as long as its connection lives.
type registrations struct {
	from, to int // names nodeName(from)..nodeName(to)
	regs     []*epmd.Registered
}

// registerRange registers nodeName(i) with port basePort+i for i in
// from..to, as OTP 25 nodes do (type M, protocol 0, versions 6..6), and
// checks that each got result 0 (epmd.Client.Register fails otherwise).
func registerRange(ctx context.Context, d *daemon, from, to int) (*registrations, error) {
	rs := &registrations{from: from, to: to, regs: make([]*epmd.Registered, to-from+1)}
	c := epmd.Client{Addr: d.addr, Timeout: 10 * time.Second}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // guards first
		first error
	)
	next := make(chan int)
	for range registerWorkers {
		wg.Go(func() {
			for i := range next {
				r, err := c.Register(ctx, epmd.Alive2{
					Port: uint16(basePort + i), NodeType: epmd.NodeTypeNormal,
					HighVsn: 6, LowVsn: 6, Name: nodeName(i),
				})
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("%s: register %s: %w", d.name, nodeName(i), err)
				}
				rs.regs[i-from] = r
				mu.Unlock()
			}
		})
	}
	for i := from; i <= to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		rs.close()
		return nil, first
	}
	return rs, nil
}

// merge moves the registrations of o, which must follow rs's, into rs.
func (rs *registrations) merge(o *registrations) {
	rs.regs = append(rs.regs, o.regs...)
	rs.to = o.to
	o.regs = nil
}

// names returns the registered names, in order.
func (rs *registrations) names() []string {
	out := make([]string, 0, rs.to-rs.from+1)
	for i := rs.from; i <= rs.to; i++ {
		out = append(out, nodeName(i))
	}
	return out
}

// ports returns the registered ports, in the order of names.
func (rs *registrations) ports() []uint16 {
	out := make([]uint16, 0, rs.to-rs.from+1)
	for i := rs.from; i <= rs.to; i++ {
		out = append(out, uint16(basePort+i))
	}
	return out
}

// check verifies that the daemon runs, that no registration connection
// has ended, and that NAMES lists as many nodes as are held.
func (rs *registrations) check(ctx context.Context, d *daemon) error {
	if err := d.alive(); err != nil {
		return err
	}
	for i, r := range rs.regs {
		select {
		case <-r.Done():
			return fmt.Errorf("%s: the registration of %s has ended", d.name, nodeName(rs.from+i))
		default:
		}
	}
	c := epmd.Client{Addr: d.addr, Timeout: 10 * time.Second}
	_, names, err := c.Names(ctx)
	if err != nil {
		return fmt.Errorf("%s: names: %w", d.name, err)
	}
	if len(names) != len(rs.regs) {
		return fmt.Errorf("%s: NAMES lists %d nodes, %d are registered", d.name, len(names), len(rs.regs))
	}
	return nil
}

// close ends every registration. It is idempotent.
func (rs *registrations) close() {
	for _, r := range rs.regs {
		if r != nil {
			r.Close()
		}
	}
	rs.regs = nil
}
