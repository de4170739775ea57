package wasm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/wasm/wasmtest"
)

// slack is what the deadline tests allow beyond a policy's deadline: the
// machine is shared with other test binaries, and a timer fires late on a
// busy one. A runaway guest is cut off in milliseconds; without the checks
// these modules run for seconds to centuries.
const slack = 5 * time.Second

// bulkModule builds the straight-line module of wasmtest.BulkWAT.
func bulkModule(t testing.TB, op string, count int) []byte {
	t.Helper()
	text, err := wasmtest.BulkWAT(op, count)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, op+".wat")
	if err := os.WriteFile(src, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return build.WAT(t, src)
}

// hostileModules are policies that run without end, or for far longer
// than any deadline, without a loop: only checks at function entries,
// before bulk instructions and host calls, and in the host functions, can
// stop them.
func hostileModules(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"recursion":          testdata(t, "recursion"),
		"mutual recursion":   testdata(t, "mutual_recursion"),
		"indirect recursion": testdata(t, "indirect_recursion"),
		"memory.fill":        bulkModule(t, "fill", 1024),
		"memory.copy":        bulkModule(t, "copy", 1024),
		"fd_write flood":     testdata(t, "write_flood"),
		"random_get flood":   testdata(t, "random_flood"),
	}
}

// lookupWithin runs a lookup and fails the test when it does not return
// within d; the lookup goroutine is then left running (the engine is
// broken).
func lookupWithin(t *testing.T, e *Engine, name string, d time.Duration) (abi.Route, error, time.Duration) {
	t.Helper()
	type answer struct {
		r   abi.Route
		err error
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		r, err := e.Lookup(ctx, name, remoteReq)
		done <- answer{r, err}
	}()
	select {
	case a := <-done:
		return a.r, a.err, time.Since(start)
	case <-time.After(d):
		t.Fatalf("%s: no answer after %v", name, d)
		return abi.Route{}, nil, 0
	}
}

// TestDeadlineWithoutLoops: every hostile module fails closed with a
// timeout within its deadline and the slack, and the instance is
// discarded.
func TestDeadlineWithoutLoops(t *testing.T) {
	const deadline = 50 * time.Millisecond
	e := newEngine(t, Config{CallTimeout: deadline})
	for name, module := range hostileModules(t) {
		t.Run(name, func(t *testing.T) {
			install(t, e, "p", module, "")
			r, err, took := lookupWithin(t, e, "p", deadline+slack)
			var timeout *TimeoutError
			checkFailClosed(t, r, err, &timeout)
			t.Logf("failed closed after %v: %v", took, err)
			if st := mustInfo(t, e, "p").Stats; st.Discarded == 0 {
				t.Errorf("stats = %+v: the instance was kept", st)
			}
			if err := e.Remove("p"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHostileCallsLeaveAThread: while more hostile calls run at once than
// the process has threads for Go code (GOMAXPROCS), the rest of the
// process keeps running: compiled guest code cannot be preempted, so the
// engine must never run guests on every P.
//
// Were every P in a guest, the timers that end the calls at their
// deadline could not fire either: each call would run until its fuel is
// spent (maxFuel checks, a quarter of a second at the fastest guest's rate
// of one a nanosecond, a second for this recursion), and a sleeper would
// wait that long at least (seconds, measured). With a P left free it
// waits for the machine's scheduler alone: milliseconds, tens of them on a
// loaded machine. maxStall lies between the two. Collections are off while
// it is measured: one that starts during a guest call stops every P and
// waits for the guest's fuel by design (TestGCDuringHostileCall), a stall
// of the same length as the fault this test looks for.
func TestHostileCallsLeaveAThread(t *testing.T) {
	const maxStall = 200 * time.Millisecond
	procs := runtime.GOMAXPROCS(0)
	// A deadline of a second gives each call maxFuel. No backoff: the
	// hostile calls keep running guests all along.
	e := newEngine(t, Config{CallTimeout: time.Second, Instances: 2 * procs, Backoff: time.Nanosecond, MaxBackoff: time.Nanosecond})
	install(t, e, "p", testdata(t, "recursion"), "")
	gc := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(gc)
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		calls atomic.Int64
	)
	for range 2 * procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := e.Lookup(ctx, "p", remoteReq); err == nil {
					t.Error("a hostile call succeeded")
				}
				calls.Add(1)
			}
		}()
	}
	// Sleep 1 ms at a time for two seconds, through calls that end and
	// start: each sleep needs a P to wake on.
	var worst time.Duration
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		start := time.Now()
		time.Sleep(time.Millisecond)
		worst = max(worst, time.Since(start))
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("GOMAXPROCS %d, %d hostile calls; longest 1 ms sleep: %v", procs, calls.Load(), worst)
	if worst > maxStall {
		t.Errorf("a 1 ms sleep took %v while hostile policies ran: more than %v", worst, maxStall)
	}
	if calls.Load() == 0 {
		t.Error("no hostile call ended")
	}
}

// TestWaitIsBounded: a decision that finds every instance busy waits a
// bounded time, even with a context that never ends, and fails closed.
func TestWaitIsBounded(t *testing.T) {
	// A deadline of a minute: the one instance stays busy all along.
	e := newEngine(t, Config{CallTimeout: time.Minute, Instances: 1})
	install(t, e, "p", testdata(t, "loop"), "")
	// Fuel beyond maxFuel, so that the first call runs until Close: seconds
	// of a loop (and no more, should a collection wait for it).
	slot, _ := e.slot("p")
	slot.cur.Load().fuel = 4e9
	busy := make(chan error, 1)
	go func() {
		_, err := e.Lookup(ctx, "p", remoteReq)
		busy <- err
	}()
	// The first call holds the one instance (and an executor, taken
	// before it): the pool has none idle and no room for another.
	v := slot.cur.Load()
	waitFor(t, func() bool { return len(v.idle) == 0 && len(v.slots) == cap(v.slots) })
	r, err, took := lookupWithin(t, e, "p", maxWait+slack)
	if r.Kind != abi.RouteDeny || !errors.Is(err, ErrBusy) {
		t.Errorf("a call with every instance busy: %+v, %v after %v; want a denial and ErrBusy", r, err, took)
	}
	if st := mustInfo(t, e, "p").Stats; st.Unavailable != 1 {
		t.Errorf("stats = %+v, want one unavailable", st)
	}
	// Close interrupts the call that holds the instance.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.Close(cctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-busy:
		var timeout *TimeoutError
		if !errors.As(err, &timeout) {
			t.Errorf("the interrupted call: %v, want a timeout", err)
		}
	case <-time.After(slack):
		t.Fatal("Close returned with a call still running")
	}
	t.Logf("Close took %v", time.Since(start))
}

// TestCloseEndsHostileCalls: Close ends calls that would run for
// centuries, and waiters, within seconds.
func TestCloseEndsHostileCalls(t *testing.T) {
	e := newEngine(t, Config{CallTimeout: time.Hour, InitTimeout: time.Hour, Instances: 4})
	mods := hostileModules(t)
	for _, name := range []string{"recursion", "mutual recursion", "indirect recursion"} {
		install(t, e, name[:3], mods[name], "")
	}
	var wg sync.WaitGroup
	var ended atomic.Int64
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.Lookup(ctx, []string{"rec", "mut", "ind"}[i%3], remoteReq)
			if err == nil || r.Kind != abi.RouteDeny {
				t.Errorf("a hostile call ended with %+v, %v", r, err)
			}
			ended.Add(1)
		}()
	}
	time.Sleep(200 * time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	if err := e.Close(cctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	took := time.Since(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(slack):
		t.Fatalf("%d of 6 calls ended after Close", ended.Load())
	}
	t.Logf("Close took %v", took)
	if took > 3*time.Second {
		t.Errorf("Close took %v", took)
	}
	if _, err := e.Lookup(ctx, "rec", remoteReq); !errors.Is(err, ErrClosed) {
		t.Errorf("a lookup after Close: %v, want ErrClosed", err)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 10s")
}

// TestGCDuringHostileCall: a garbage collection that starts while a guest
// runs stops the world around it, timers included, and waits for the
// guest, which Go cannot preempt: the guest's fuel must end it, within a
// few times its deadline, or the process is frozen for good.
func TestGCDuringHostileCall(t *testing.T) {
	const deadline = 50 * time.Millisecond
	e := newEngine(t, Config{CallTimeout: deadline})
	install(t, e, "loop", testdata(t, "loop"), "")
	install(t, e, "recursion", testdata(t, "recursion"), "")
	for _, name := range []string{"loop", "recursion"} {
		done := make(chan error, 1)
		go func() {
			_, err := e.Lookup(ctx, name, remoteReq)
			done <- err
		}()
		waitFor(t, func() bool { return mustInfo(t, e, name).Stats.Calls == 1 })
		time.Sleep(5 * time.Millisecond) // in the guest, most likely
		start := time.Now()
		runtime.GC()
		took := time.Since(start)
		t.Logf("%s: a GC took %v", name, took)
		if took > slack {
			t.Errorf("%s: a GC during a hostile call took %v", name, took)
		}
		var timeout *TimeoutError
		if err := <-done; !errors.As(err, &timeout) {
			t.Errorf("%s: %v, want a timeout", name, err)
		}
	}
}
