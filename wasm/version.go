package wasm

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
)

// version is a loaded policy version: its compiled module and a bounded
// pool of instances. It is reference counted: the policy's slot holds one
// reference while the version is active, each call in flight another; the
// last release closes the instances and the compiled module, so a call
// that started on a version finishes on it after a swap.
type version struct {
	e         *Engine
	slot      *slot
	meta      Version
	compiled  wazero.CompiledModule
	modConfig wazero.ModuleConfig
	exports   exports
	log       *slog.Logger // the engine's records about this version
	guestLog  *guestLog    // the guest's own records

	fuel  uint64     // given to each call (instrument.go)
	cache routeCache // routes its guest allowed to be reused (cache.go)

	refs atomic.Int64

	// The pool: idle instances, and a token per live instance.
	idle  chan *instance
	slots chan struct{}

	crashes      atomic.Int64 // consecutive crashes
	backoffUntil atomic.Int64 // Unix ns before which calls fail fast; 0 = none
}

// newVersion wraps a compiled, checked module. It holds one reference.
func (e *Engine) newVersion(s *slot, meta Version, cm wazero.CompiledModule, ex exports) *version {
	v := &version{
		e: e, slot: s, meta: meta, compiled: cm, exports: ex, fuel: fuelFor(e.cfg.CallTimeout),
		log:   e.cfg.Logger.With("policy", s.name, "version", meta.Seq),
		idle:  make(chan *instance, e.cfg.Instances),
		slots: make(chan struct{}, e.cfg.Instances),
	}
	v.guestLog = &guestLog{log: v.log, now: e.cfg.Now}
	out := v.guestLog
	now := e.cfg.Now
	v.modConfig = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // newInstance calls _initialize under its deadline
		WithStdout(out).WithStderr(out).
		WithWalltime(func() (int64, int32) {
			t := now()
			return t.Unix(), int32(t.Nanosecond())
		}, sys.ClockResolution(time.Microsecond)).
		WithSysNanotime()
	// Each instance has its own stdout, stderr and random source
	// (newInstance).
	v.refs.Store(1)
	return v
}

// acquire takes a reference for a call; it fails once the version is
// closing.
func (v *version) acquire() bool {
	for {
		r := v.refs.Load()
		if r <= 0 {
			return false
		}
		if v.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the version.
func (v *version) release() {
	if v.refs.Add(-1) == 0 {
		v.close()
	}
}

// close closes the idle instances (with no reference left, all are idle)
// and the compiled module.
func (v *version) close() {
	for {
		select {
		case in := <-v.idle:
			in.close()
			<-v.slots
		default:
			v.compiled.Close(context.Background())
			v.e.versionClosed()
			return
		}
	}
}

// get returns an idle instance, or a new one while the pool has room, or
// waits for one within w's bounds. The caller holds an executor, so that
// a version has no more instances busy than there are executors, and an
// idle engine reuses its most recent instance, its memory in the caches.
func (v *version) get(w *wait) (*instance, error) {
	select {
	case in := <-v.idle:
		return in, nil
	default:
	}
	select {
	case in := <-v.idle:
		return in, nil
	case v.slots <- struct{}{}:
		return v.start(w)
	default:
	}
	select {
	case in := <-v.idle:
		return in, nil
	case v.slots <- struct{}{}:
		return v.start(w)
	case <-w.expired():
		return nil, w.fail(v.slot.name, "an instance", errWaited)
	case <-w.ctx.Done():
		return nil, w.fail(v.slot.name, "an instance", w.ctx.Err())
	case <-v.e.done:
		return nil, ErrClosed
	}
}

// start starts an instance in the pool slot the caller took.
func (v *version) start(w *wait) (*instance, error) {
	in, err := v.newInstance()
	if err != nil {
		<-v.slots
		if errors.Is(err, ErrBusy) || errors.Is(err, ErrClosed) || w.ctx.Err() != nil {
			return nil, err
		}
		return nil, &TrapError{Policy: v.slot.name, Version: v.meta.Seq, Cause: err}
	}
	return in, nil
}

// put returns an instance after a call that ended with err: a trap or a
// timeout discards it.
func (v *version) put(in *instance, err error) {
	var trap *TrapError
	var timeout *TimeoutError
	if in.spent() || errors.As(err, &trap) || errors.As(err, &timeout) {
		v.discard(in)
		return
	}
	v.idle <- in
}

func (v *version) discard(in *instance) {
	in.close()
	<-v.slots
	v.slot.stats.discarded.Add(1)
}

// crashed records a crash and starts a backoff after
// CrashesBeforeBackoff in a row.
func (v *version) crashed() {
	n := v.crashes.Add(1)
	if n < CrashesBeforeBackoff {
		return
	}
	d := v.e.cfg.Backoff << min(n-CrashesBeforeBackoff, 20)
	if d > v.e.cfg.MaxBackoff || d <= 0 {
		d = v.e.cfg.MaxBackoff
	}
	v.backoffUntil.Store(v.e.cfg.Now().Add(d).UnixNano())
	v.log.Warn("policy crashes repeatedly: backing off", "crashes", n, "for", d)
}

// succeeded resets the crash count.
func (v *version) succeeded() {
	if v.crashes.Load() != 0 {
		v.crashes.Store(0)
		v.backoffUntil.Store(0)
	}
}

// backingOff reports whether calls fail fast now.
func (v *version) backingOff() bool {
	u := v.backoffUntil.Load()
	return u != 0 && v.e.cfg.Now().UnixNano() < u
}
