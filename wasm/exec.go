package wasm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Guest code cannot be preempted. Compiled WebAssembly runs on the calling
// goroutine's thread like a Go function, but without the safe points Go's
// scheduler preempts at: a goroutine in a guest keeps its P (one of the
// GOMAXPROCS threads allowed to run Go code) until the guest returns. Were
// every P in a guest, nothing else would run: not the EPMD, not the admin
// API, not the relays, not even the timer that interrupts the guests at
// their deadline (it must run on a P too), nor the handler of SIGTERM.
//
// So the engine runs guest code on at most GOMAXPROCS-1 goroutines at a
// time, its executors: a decision takes an executor for its whole course
// (an instance, the request encoded, the guest's call, the answer
// decoded: a microsecond beyond the guest's own time), and so does the
// start of a version's first instance. One P is always left to the rest of
// the process, and with it the timers that stop guests at their
// deadlines (a collection, which stops every P, waits for the guests
// instead: their fuel bounds that, see instrument.go). With GOMAXPROCS 1
// there would be no such P: New raises
// GOMAXPROCS to 2. As a decision holds its executor before it takes an
// instance, a version never has more instances busy than there are
// executors: on a quiet engine one instance answers every call, its
// memory warm in the caches.
//
// Every wait, for an executor and then for an instance of a policy
// version, is bounded by maxWait from the first wait that blocks (and by
// the caller's context): a decision that cannot run in time fails closed
// with ErrBusy. Close ends the waits at once.

// ErrBusy is returned (wrapped) by decisions that waited maxWait for a free
// instance or executor: the policies are too slow for the load, or hostile
// ones hold what they can until their deadlines. The decision fails
// closed.
var ErrBusy = errors.New("policy engine busy")

// minProcs is the GOMAXPROCS the engine needs: one P for guests, one for
// everything else.
const minProcs = 2

// executors returns how many goroutines may run guest code at once, after
// raising GOMAXPROCS to minProcs if it is below.
func executors() int {
	if runtime.GOMAXPROCS(0) < minProcs {
		runtime.GOMAXPROCS(minProcs)
	}
	return max(1, runtime.GOMAXPROCS(0)-1)
}

// wait bounds the waits of one decision (for an executor, then for an
// instance) together: by the caller's context, by maxWait from the first
// wait that blocks, and by the engine's Close. The timer is made only
// when a wait blocks, so an idle engine's decisions never make one.
type wait struct {
	ctx   context.Context
	e     *Engine
	timer *time.Timer
}

// expired returns the channel of the wait's timer, starting it.
func (w *wait) expired() <-chan time.Time {
	if w.timer == nil {
		w.timer = time.NewTimer(maxWait)
	}
	return w.timer.C
}

// stop releases the timer.
func (w *wait) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// fail returns why a blocked wait ended, for what was awaited.
func (w *wait) fail(policy, what string, cause error) error {
	return fmt.Errorf("wasm: policy %s: waiting for %s: %w", policy, what, cause)
}

// errWaited is the cause of a wait that reached maxWait.
var errWaited = fmt.Errorf("%w: nothing free after %v", ErrBusy, maxWait)

// startGuest takes an executor for a decision or an instance's start,
// waiting within w's bounds; endGuest returns it. The executors are the
// slots of a buffered channel: goroutines that wait are served in turn
// (an atomic count was faster by 30 ns, and let newcomers overtake a
// waiter for a second under load).
func (e *Engine) startGuest(w *wait, policy string) error {
	select {
	case e.exec <- struct{}{}:
		return nil
	default:
	}
	select {
	case e.exec <- struct{}{}:
		return nil
	case <-w.expired():
		return w.fail(policy, "an executor", errWaited)
	case <-w.ctx.Done():
		return w.fail(policy, "an executor", w.ctx.Err())
	case <-e.done:
		return ErrClosed
	}
}

// endGuest returns an executor.
func (e *Engine) endGuest() { <-e.exec }
