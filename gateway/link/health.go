package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// A peer site may have several edges: its addresses, or the records of
// its DNS name. A link dials them in order of health, the addresses that
// have not failed lately first, and races them: the next one starts when
// the one before failed, or after dialStagger without an answer, and the
// first to answer wins. An address is counted as failed when a dial to it
// fails or a link to it dies, and as healthy again when a dial succeeds.
const (
	dialStagger = 300 * time.Millisecond
	// failMemory is how long a failure keeps an address behind the others.
	failMemory = 30 * time.Second
)

// addrHealth is what the Manager remembers of an address it dialled.
type addrHealth struct {
	lastFail time.Time
	lastErr  error
}

// noteDial records the outcome of a dial of addr, or, with err set, the
// death of a link to it.
func (m *Manager) noteDial(addr string, err error) {
	if addr == "" {
		return
	}
	var app *quic.ApplicationError
	if err != nil && errors.As(err, &app) && !app.Remote && app.ErrorCode != codeSilent {
		return // this gateway let it go (a link found silent here died)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.health, addr)
		return
	}
	m.health[addr] = &addrHealth{lastFail: time.Now(), lastErr: err}
}

// order sorts addresses for a dial: those without a recent failure first,
// in the order given (the peer's configuration, or its site directory's
// preference), then the failed ones, the longest ago first.
func (m *Manager) order(addrs []string) []string {
	now := time.Now()
	m.mu.Lock()
	failed := func(a string) time.Time {
		if h := m.health[a]; h != nil && now.Sub(h.lastFail) < failMemory {
			return h.lastFail
		}
		return time.Time{}
	}
	out := slices.Clone(addrs)
	slices.SortStableFunc(out, func(a, b string) int { return failed(a).Compare(failed(b)) })
	m.mu.Unlock()
	return out
}

// expand replaces each host:port whose host is a DNS name by an address
// for each of its records, in the resolver's order; a name that does not
// resolve is kept, for the dial to fail on.
func expand(ctx context.Context, addrs []string) []string {
	var out []string
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || net.ParseIP(host) != nil {
			out = append(out, a)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ips, err := net.DefaultResolver.LookupHost(rctx, host)
		cancel()
		if err != nil || len(ips) == 0 {
			out = append(out, a)
			continue
		}
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip, port))
		}
	}
	return slices.Compact(out)
}

type dialResult[T any] struct {
	v    T
	addr string
	err  error
}

// race dials addrs in order, starting the next when the one before failed
// or after stagger, and returns the first connection made, with its
// address. Connections made after it are discarded; the goroutines that
// wait for them are counted in wg. note is told of every outcome.
func race[T any](ctx context.Context, wg *sync.WaitGroup, addrs []string, stagger time.Duration,
	dial func(context.Context, string) (T, error), discard func(T), note func(string, error)) (T, string, error) {
	var zero T
	if len(addrs) == 0 {
		return zero, "", errors.New("no address to dial")
	}
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan dialResult[T], len(addrs))
	next, running := 0, 0
	start := func() {
		a := addrs[next]
		next++
		running++
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := dial(ctx, a)
			results <- dialResult[T]{v: v, addr: a, err: err}
		}()
	}
	start()
	timer := time.NewTimer(stagger)
	defer timer.Stop()
	var errs []error
	for running > 0 {
		select {
		case r := <-results:
			running--
			if r.err == nil {
				note(r.addr, nil)
				cancel()
				if running > 0 {
					wg.Add(1)
					go func(n int) { // the losers: close what still connects
						defer wg.Done()
						for range n {
							if l := <-results; l.err == nil {
								discard(l.v)
							}
						}
					}(running)
				}
				return r.v, r.addr, nil
			}
			if ctx.Err() == nil {
				note(r.addr, r.err)
			}
			errs = append(errs, fmt.Errorf("%s: %w", r.addr, r.err))
			if next < len(addrs) {
				start()
				timer.Reset(stagger)
			}
		case <-timer.C:
			if next < len(addrs) {
				start()
				timer.Reset(stagger)
			}
		}
	}
	cancel()
	return zero, "", errors.Join(errs...)
}
