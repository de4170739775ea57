package wasm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/distgate/distgate/abi"
)

// instance is one instantiation of a policy version. It is used by one
// goroutine at a time: the pool hands it out and takes it back.
type instance struct {
	v      *version
	mod    api.Module
	mem    api.Memory
	alloc  api.Function
	lookup api.Function
	authz  api.Function
	filter api.Function      // revision 4 (filter.go)
	fuel   api.MutableGlobal // the call's fuel (instrument.go)
	stop   api.MutableGlobal // set by the timer: the guest traps

	ctx     context.Context // carries the instance to host functions
	timer   *time.Timer     // fires at the deadline of the running call
	expired atomic.Bool     // the timer fired: the instance must be discarded

	buf     uint32   // guest address of the request buffer
	bufCap  uint32   // its size
	stack   []uint64 // parameters and results of calls
	scratch []byte   // the encoded request, before it is copied in
}

type instanceKey struct{}

// instanceFrom returns the instance a host function is called for.
func instanceFrom(ctx context.Context) *instance {
	in, _ := ctx.Value(instanceKey{}).(*instance)
	return in
}

// newInstance instantiates v, then runs its initializers (_initialize,
// distgate_init) and allocates its request buffer within the init
// timeout. The caller holds an executor.
func (v *version) newInstance() (*instance, error) {
	e := v.e
	in := &instance{v: v, stack: make([]uint64, 2)}
	in.ctx = context.WithValue(context.Background(), instanceKey{}, in)
	// Its own stdout, stderr and random source, which stop at its
	// deadlines (host.go).
	out := guestOutput{in}
	cfg := v.modConfig.WithStdout(out).WithStderr(out).WithRandSource(guestRand{in})
	// No guest code runs here: a module has no start function
	// (instrument refuses one) and start functions are not configured.
	mod, err := e.rt.InstantiateModule(experimental.WithMemoryAllocator(in.ctx, linearMemory), v.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	in.mod, in.mem = mod, mod.Memory()
	in.alloc = mod.ExportedFunction(abi.ExportAlloc)
	in.lookup = mod.ExportedFunction(abi.ExportLookup)
	in.authz = mod.ExportedFunction(abi.ExportAuthorize)
	in.filter = mod.ExportedFunction(abi.ExportFilter)
	fuel, ok1 := mod.ExportedGlobal(fuelExport).(api.MutableGlobal)
	stop, ok2 := mod.ExportedGlobal(stopExport).(api.MutableGlobal)
	if !ok1 || !ok2 {
		mod.Close(context.Background())
		return nil, fmt.Errorf("instantiate: no fuel global (module not instrumented)")
	}
	in.fuel, in.stop = fuel, stop
	if !e.track(in) {
		mod.Close(context.Background())
		return nil, ErrClosed
	}
	in.fuel.Set(fuelFor(e.cfg.InitTimeout))
	in.timer = time.AfterFunc(e.cfg.InitTimeout, in.expire)
	err = in.init()
	in.stopTimer()
	if err != nil || in.spent() {
		if in.spent() {
			err = fmt.Errorf("initialization took longer than %v", e.cfg.InitTimeout)
		}
		in.close()
		return nil, err
	}
	v.slot.stats.instances.Add(1)
	return in, nil
}

// expire is the timer's function: it interrupts the running call.
func (in *instance) expire() {
	in.expired.Store(true)
	in.stop.Set(math.MaxInt64)
}

// fuelFor returns the fuel of a call with deadline d: fuelPerNanosecond
// checks per nanosecond, at most maxFuel.
func fuelFor(d time.Duration) uint64 {
	return min(uint64(max(d.Nanoseconds(), 1))*fuelPerNanosecond, maxFuel)
}

func (in *instance) init() error {
	v := in.v
	if v.exports.initialize {
		if err := in.mod.ExportedFunction(abi.ExportInitialize).CallWithStack(in.ctx, in.stack); err != nil {
			return fmt.Errorf("%s: %w", abi.ExportInitialize, err)
		}
	}
	if v.exports.init {
		if err := in.mod.ExportedFunction(abi.ExportInit).CallWithStack(in.ctx, in.stack); err != nil {
			return fmt.Errorf("%s: %w", abi.ExportInit, err)
		}
		if r := in.stack[0]; r != 0 {
			ptr, n, code := abi.UnpackResult(r)
			if code != abi.CodeOK {
				return fmt.Errorf("%s refused: %v", abi.ExportInit, code)
			}
			msg, ok := in.mem.Read(ptr, min(n, maxLogBytes))
			if !ok {
				return fmt.Errorf("%s refused with a message out of bounds", abi.ExportInit)
			}
			return fmt.Errorf("%s refused: %s", abi.ExportInit, msg)
		}
	}
	return in.grow(initialBuffer)
}

// grow asks the guest for a request buffer of at least n bytes.
func (in *instance) grow(n uint32) error {
	n = max(n, 2*in.bufCap)
	in.stack[0] = uint64(n)
	if err := in.alloc.CallWithStack(in.ctx, in.stack); err != nil {
		return fmt.Errorf("%s(%d): %w", abi.ExportAlloc, n, err)
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 || uint64(ptr)+uint64(n) > uint64(in.mem.Size()) {
		return fmt.Errorf("%s(%d) returned %#x, out of bounds of its %d bytes of memory", abi.ExportAlloc, n, ptr, in.mem.Size())
	}
	in.buf, in.bufCap = ptr, n
	return nil
}

// errResult marks a result the host cannot read; call wraps it into a
// ResultError.
var errResult = errors.New("result")

// call copies msg into the instance and calls fn(ptr, len) under the call
// deadline; the caller holds an executor. It returns the guest's result
// message, a view of guest memory valid until the next call. A nil fn
// means the export is missing. A *TrapError or *TimeoutError means the
// instance must be discarded.
func (in *instance) call(fn api.Function, msg []byte) ([]byte, error) {
	v := in.v
	if fn == nil {
		return nil, &ResultError{Policy: v.slot.name, Version: v.meta.Seq, Code: abi.CodeUnsupported}
	}
	in.fuel.Set(v.fuel)
	in.timer.Reset(v.e.cfg.CallTimeout)
	err := in.callLocked(fn, msg)
	// When the deadline fired as the call returned, the result is good but
	// the instance's context is spent: spent() tells the pool.
	in.stopTimer()
	if err != nil {
		return nil, in.classify(err)
	}
	return in.result()
}

// stopTimer stops the deadline timer after a guest call. A timer that
// already fired (its function may still be on its way to set the
// interrupt) spends the instance, so that the pool never hands out one
// that a late interrupt would cut off in its next call.
func (in *instance) stopTimer() {
	if !in.timer.Stop() {
		in.expired.Store(true)
	}
}

// callLocked runs the call; the timer is running.
func (in *instance) callLocked(fn api.Function, msg []byte) error {
	if uint32(len(msg)) > in.bufCap {
		if err := in.grow(uint32(len(msg))); err != nil {
			return err
		}
	}
	if !in.mem.Write(in.buf, msg) {
		return fmt.Errorf("request buffer at %#x out of bounds", in.buf)
	}
	in.stack[0], in.stack[1] = uint64(in.buf), uint64(len(msg))
	return fn.CallWithStack(in.ctx, in.stack)
}

// result reads the result message of the last call.
func (in *instance) result() ([]byte, error) {
	ptr, n, code := abi.UnpackResult(in.stack[0])
	v := in.v
	if code != abi.CodeOK {
		return nil, &ResultError{Policy: v.slot.name, Version: v.meta.Seq, Code: code}
	}
	if n > abi.MaxMessageLen {
		return nil, &ResultError{Policy: v.slot.name, Version: v.meta.Seq,
			Cause: fmt.Errorf("%w: %d bytes, more than %d", errResult, n, abi.MaxMessageLen)}
	}
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		return nil, &ResultError{Policy: v.slot.name, Version: v.meta.Seq,
			Cause: fmt.Errorf("%w: %d bytes at %#x, out of bounds of %d bytes of memory", errResult, n, ptr, in.mem.Size())}
	}
	return b, nil
}

// classify turns a failed call into a TimeoutError or a TrapError.
func (in *instance) classify(err error) error {
	v := in.v
	if in.spent() {
		return &TimeoutError{Policy: v.slot.name, Version: v.meta.Seq, Limit: v.e.cfg.CallTimeout}
	}
	return &TrapError{Policy: v.slot.name, Version: v.meta.Seq, Cause: err}
}

// spent reports whether the instance's deadline fired or its fuel ran
// out: it must not be called again.
func (in *instance) spent() bool { return in.expired.Load() || int64(in.fuel.Get()) < 1 }

// close releases the instance's module and timer.
func (in *instance) close() {
	if in.timer != nil {
		in.timer.Stop()
	}
	in.v.e.untrack(in)
	in.mod.Close(context.Background())
}
