package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/distgate/distgate/epmd"
)

// scaleResult is the edge's side of a site with many registrations.
type scaleResult struct {
	registered time.Duration // all the ALIVE2s answered (each claimed in etcd)
	liveLag    time.Duration // the running edge's cache complete, after the last answer
	rssBefore  float64       // the running edge, before the registrations
	rssLive    float64       // the running edge, holding them
	newCatchUp time.Duration // a new edge's cache complete, from its start
	rssNew     float64       // the new edge, holding them
}

// scale runs a site of o.agents agents and an edge, registers
// o.registrations names spread over the agents, and measures the edge's
// memory and how soon its watch holds them all; then a new edge's listing
// and watch, from its start.
func (b *bench) scale(ctx context.Context) (r scaleResult, err error) {
	es1, err := b.newGateway("es1", "edge")
	if err != nil {
		return r, err
	}
	if err := b.write(es1, "site-s", "edge", "", ""); err != nil {
		return r, err
	}
	if err := b.start(es1); err != nil {
		return r, err
	}
	defer es1.proc.Stop()
	agents := make([]*gateway, b.o.agents)
	for i := range agents {
		if agents[i], err = b.newGateway(fmt.Sprintf("s%02d", i), "agent"); err != nil {
			return r, err
		}
		if err := b.write(agents[i], "site-s", "agent", fmt.Sprintf("s%02d.site-s.example", i), ""); err != nil {
			return r, err
		}
	}
	if err := parallel(len(agents), func(i int) error { return b.start(agents[i]) }); err != nil {
		return r, err
	}
	defer func() {
		for _, a := range agents {
			a.proc.Stop()
		}
	}()
	if r.rssBefore, err = rssMiB(es1.proc); err != nil {
		return r, err
	}
	// Each agent registers its share, four at a time.
	regs := make([][]*epmd.Registered, len(agents))
	defer func() {
		for _, rs := range regs {
			closeAll(rs)
		}
	}()
	t0 := time.Now()
	if err := parallel(len(agents), func(i int) error {
		var names []string
		for j := i; j < b.o.registrations; j += len(agents) {
			names = append(names, fmt.Sprintf("r%05d", j))
		}
		var err error
		regs[i], err = register(ctx, agents[i].epmd, names, 4)
		return err
	}); err != nil {
		return r, err
	}
	last := time.Now()
	r.registered = last.Sub(t0)
	if err := waitEvery(5*time.Millisecond, "es1 to hold every registration", 120*time.Second, func() bool {
		return es1.siteNodes() >= b.o.registrations
	}); err != nil {
		return r, err
	}
	r.liveLag = time.Since(last)
	if r.rssLive, err = rssMiB(es1.proc); err != nil {
		return r, err
	}
	es2, err := b.newGateway("es2", "edge")
	if err != nil {
		return r, err
	}
	if err := b.write(es2, "site-s", "edge", "", ""); err != nil {
		return r, err
	}
	started := time.Now()
	if err := b.start(es2); err != nil {
		return r, err
	}
	defer es2.proc.Stop()
	if err := waitEvery(5*time.Millisecond, "es2 to hold every registration", 120*time.Second, func() bool {
		return es2.siteNodes() >= b.o.registrations
	}); err != nil {
		return r, err
	}
	r.newCatchUp = time.Since(started)
	r.rssNew, err = rssMiB(es2.proc)
	return r, err
}

// parallel runs f(0..n-1) at once and joins their errors.
func parallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
