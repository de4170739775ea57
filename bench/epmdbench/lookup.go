//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distgate/distgate/epmd"
)

// lookupTimeout bounds each lookup, dial to close. A lookup that takes
// longer is an error, not a slow success.
const lookupTimeout = 10 * time.Second

// phase is one measurement: clients concurrent lookup loops against one
// daemon holding names.
type phase struct {
	daemon   *daemon
	names    []string
	ports    []uint16
	clients  int
	duration time.Duration
	max      int64 // most lookups, successful or not
	sources  int   // source addresses 127.0.0.2.. to spread over; 0: let the kernel pick
	linger   bool  // SO_LINGER 0 after the reply: close with RST, no TIME_WAIT
	// rate, when not zero, paces the clients: together they start this
	// many lookups per second (later ones start at once to catch up)
	// instead of each starting the next lookup when the last ended.
	rate float64
}

// result is what a phase measured.
type result struct {
	daemon         string
	names, clients int
	pace           float64 // the lookups/s the clients were paced to; 0: closed loop

	ok       int64            // successful lookups
	errs     map[string]int64 // failed lookups by cause
	elapsed  time.Duration    // from the first dial to the end of the last lookup
	cpuTicks int64            // daemon utime+stime over the phase, clock ticks
	selfCPU  time.Duration    // this process's CPU time over the phase
	sysTicks int64            // all processors' busy time over the phase, clock ticks
	lat      []time.Duration  // of the successful lookups, sorted
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// cpuPerLookup returns the daemon's CPU time per successful lookup.
func (r result) cpuPerLookup() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return time.Duration(r.cpuTicks) * (time.Second / clockTicks) / time.Duration(r.ok)
}

// otherLoad returns the share of all processors that processes other than
// the daemon and this one kept busy during the phase: a measure of how
// much the figures were disturbed.
func (r result) otherLoad() float64 {
	other := time.Duration(r.sysTicks-r.cpuTicks)*(time.Second/clockTicks) - r.selfCPU
	return max(0, float64(other)/float64(r.elapsed)/float64(cpuCount()))
}

func (r result) errCount() (n int64) {
	for _, c := range r.errs {
		n += c
	}
	return n
}

// runPhase warms the daemon up for a fifth of the duration (at most half
// a second), then measures for the duration.
func runPhase(ctx context.Context, p phase) (result, error) {
	warm := p
	warm.duration = min(p.duration/5, 500*time.Millisecond)
	if _, err := measurePhase(ctx, warm); err != nil {
		return result{}, err
	}
	r, err := measurePhase(ctx, p)
	if err != nil {
		return r, err
	}
	if r.ok == 0 {
		return r, fmt.Errorf("%s, %d names, %d clients: no lookup succeeded (errors: %v)", r.daemon, r.names, r.clients, r.errs)
	}
	return r, nil
}

func measurePhase(ctx context.Context, p phase) (result, error) {
	r := result{daemon: p.daemon.name, names: len(p.names), clients: p.clients, pace: p.rate, errs: map[string]int64{}}
	reqs, replies := make([][]byte, len(p.names)), make([][]byte, len(p.names))
	for i, n := range p.names {
		reqs[i] = epmd.AppendFrame(nil, epmd.AppendPortPlease2(nil, n))
		replies[i] = port2Reply(n, p.ports[i])
	}
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	var budget atomic.Int64
	budget.Store(p.max)

	cpu0, err := p.daemon.cpuTicks()
	if err != nil {
		return r, err
	}
	sys0, err := systemBusyTicks()
	if err != nil {
		return r, err
	}
	self0 := selfCPU()
	start := time.Now()
	deadline := start.Add(p.duration)
	ws := make([]*worker, p.clients)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{
			p: &p, reqs: reqs, replies: replies, id: i,
			next: i * len(p.names) / p.clients,
			lat:  make([]time.Duration, 0, 1<<16),
			errs: map[string]int64{},
		}
		ws[i] = w
		wg.Go(func() { w.loop(start, deadline, &stop, &budget) })
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.selfCPU = selfCPU() - self0
	cpu1, err := p.daemon.cpuTicks()
	if err != nil {
		return r, err
	}
	r.cpuTicks = cpu1 - cpu0
	sys1, err := systemBusyTicks()
	if err != nil {
		return r, err
	}
	r.sysTicks = sys1 - sys0
	if err := ctx.Err(); err != nil {
		return r, err
	}
	for _, w := range ws {
		r.ok += int64(len(w.lat))
		r.lat = append(r.lat, w.lat...)
		for k, v := range w.errs {
			r.errs[k] += v
		}
	}
	slices.Sort(r.lat)
	return r, nil
}

// port2Reply is the whole PORT2_RESP a daemon sends for a node registered
// by registerRange.
func port2Reply(name string, port uint16) []byte {
	b := []byte{'w', 0}
	b = binary.BigEndian.AppendUint16(b, port)
	b = append(b, epmd.NodeTypeNormal, 0, 0, 6, 0, 6)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	return append(b, 0, 0)
}

// worker is one client: it looks names up one after the other.
type worker struct {
	p       *phase
	reqs    [][]byte // framed PORT_PLEASE2 requests, by name
	replies [][]byte // the expected replies, by name
	id      int
	next    int // index of the next name to ask for
	src     int // count of dials, for the source address

	lat  []time.Duration
	errs map[string]int64
	buf  [256]byte
}

func (w *worker) loop(start, deadline time.Time, stop *atomic.Bool, budget *atomic.Int64) {
	var interval time.Duration // between this client's lookups, when paced
	if w.p.rate > 0 {
		interval = time.Duration(float64(w.p.clients) / w.p.rate * float64(time.Second))
	}
	next := start.Add(interval * time.Duration(w.id) / time.Duration(w.p.clients))
	for !stop.Load() && budget.Add(-1) >= 0 {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
		}
		t0 := time.Now()
		if !t0.Before(deadline) {
			return
		}
		i := w.next
		w.next = (w.next + 1) % len(w.p.names)
		if err := w.lookup(i); err != nil {
			w.errs[err.Error()]++
			continue
		}
		w.lat = append(w.lat, time.Since(t0))
	}
}

// lookup asks for name i as OTP's erl_epmd does: connect, send
// PORT_PLEASE2, read until the daemon closes, close. The reply must be
// exactly the one registered.
func (w *worker) lookup(i int) error {
	d := net.Dialer{Timeout: lookupTimeout}
	if w.p.sources > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+(w.id+w.src)%w.p.sources))}
		d.Control = bindAddressNoPort
		w.src++
	}
	c, err := d.Dial("tcp4", w.p.daemon.addr)
	if err != nil {
		return opError("dial", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(lookupTimeout))
	if _, err := c.Write(w.reqs[i]); err != nil {
		return opError("write", err)
	}
	n := 0
	for {
		if n == len(w.buf) {
			return errors.New("reply: longer than expected")
		}
		m, err := c.Read(w.buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return opError("read", err)
		}
	}
	if w.p.linger {
		c.(*net.TCPConn).SetLinger(0)
	}
	if !bytes.Equal(w.buf[:n], w.replies[i]) {
		switch {
		case n == 0:
			return errors.New("reply: closed without a reply")
		case n >= 2 && w.buf[0] == 'w' && w.buf[1] != 0:
			return errors.New("reply: name not found")
		}
		return errors.New("reply: not the registered node")
	}
	return nil
}

// bindAddressNoPort sets IP_BIND_ADDRESS_NO_PORT, so that binding the
// source address leaves the port to connect: then a port is shared by
// connections to different destinations and bind cannot exhaust ports.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	return errors.Join(err, serr)
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h); the syscall
// package lacks it.
const ipBindAddressNoPort = 24

// opError names a failed operation by its errno, so that errors of one
// kind add up under one key.
func opError(op string, err error) error {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return fmt.Errorf("%s: %s", op, errno.Error())
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: timeout", op)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: unexpected EOF", op)
	}
	return fmt.Errorf("%s: %v", op, err)
}
