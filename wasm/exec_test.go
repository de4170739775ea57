package wasm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkExecutor times taking and returning an executor, uncontended
// and with as many goroutines as Ps.
func BenchmarkExecutor(b *testing.B) {
	e := newExecEngine()
	for b.Loop() {
		w := wait{ctx: ctx, e: e}
		if err := e.startGuest(&w, "p"); err != nil {
			b.Fatal(err)
		}
		e.endGuest()
		w.stop()
	}
}

func BenchmarkExecutorParallel(b *testing.B) {
	e := newExecEngine()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := wait{ctx: ctx, e: e}
			if err := e.startGuest(&w, "p"); err != nil {
				b.Error(err)
				return
			}
			e.endGuest()
			w.stop()
		}
	})
}

// newExecEngine returns an engine with only its executors set up.
func newExecEngine() *Engine {
	return &Engine{exec: make(chan struct{}, executors()), done: make(chan struct{})}
}

// TestExecutorsNeverOverbooked: many goroutines taking and returning
// executors never hold more than the limit at once, and none waits past
// maxWait for one.
func TestExecutorsNeverOverbooked(t *testing.T) {
	for _, limit := range []int{1, 3} {
		e := &Engine{exec: make(chan struct{}, limit), done: make(chan struct{})}
		var held, worst atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2000 {
					w := wait{ctx: ctx, e: e}
					if err := e.startGuest(&w, "p"); err != nil {
						t.Error(err)
						return
					}
					n := held.Add(1)
					for m := worst.Load(); n > m && !worst.CompareAndSwap(m, n); m = worst.Load() {
					}
					runtime.Gosched()
					held.Add(-1)
					e.endGuest()
					w.stop()
				}
			}()
		}
		wg.Wait()
		if worst.Load() > int64(limit) || worst.Load() < 1 {
			t.Errorf("limit %d: %d executors held at once", limit, worst.Load())
		}
	}
}

// TestGOMAXPROCSRaised: with a single P, guests could hold every one: New
// raises GOMAXPROCS to 2 and keeps one executor.
func TestGOMAXPROCSRaised(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	e := newEngine(t, Config{})
	if n := runtime.GOMAXPROCS(0); n != 2 || cap(e.exec) != 1 {
		t.Errorf("GOMAXPROCS %d, %d executors; want 2, 1", n, cap(e.exec))
	}
}
