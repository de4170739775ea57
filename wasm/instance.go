package wasm

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/distgate/distgate/abi"
)

// instance is one instantiation of a policy version. It is used by one
// goroutine at a time: the pool hands it out and takes it back.
type instance struct {
	v         *version
	mod       api.Module
	mem       api.Memory
	alloc     api.Function
	lookup    api.Function
	authz     api.Function
	filter    api.Function      // revision 3 (filter.go)
	interrupt api.MutableGlobal // set by the timer: the guest traps (instrument.go)

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
// distgate_init) and allocates its request buffer within the init timeout.
func (v *version) newInstance() (*instance, error) {
	in := &instance{v: v, stack: make([]uint64, 2)}
	in.ctx = context.WithValue(context.Background(), instanceKey{}, in)
	// No guest code runs here: a module has no start function
	// (instrument refuses one) and start functions are not configured.
	mod, err := v.e.rt.InstantiateModule(experimental.WithMemoryAllocator(in.ctx, linearMemory), v.compiled, v.modConfig)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	in.mod, in.mem = mod, mod.Memory()
	in.alloc = mod.ExportedFunction(abi.ExportAlloc)
	in.lookup = mod.ExportedFunction(abi.ExportLookup)
	in.authz = mod.ExportedFunction(abi.ExportAuthorize)
	in.filter = mod.ExportedFunction(abi.ExportFilter)
	g, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
	if !ok {
		mod.Close(context.Background())
		return nil, fmt.Errorf("instantiate: no interrupt global (module not instrumented)")
	}
	in.interrupt = g
	in.timer = time.AfterFunc(v.e.cfg.InitTimeout, in.expire)
	err = in.init()
	in.timer.Stop()
	if err != nil || in.expired.Load() {
		if in.expired.Load() {
			err = fmt.Errorf("initialization took longer than %v", v.e.cfg.InitTimeout)
		}
		mod.Close(context.Background())
		return nil, err
	}
	v.slot.stats.instances.Add(1)
	return in, nil
}

// expire is the timer's function: it interrupts the running call.
func (in *instance) expire() {
	in.expired.Store(true)
	in.interrupt.Set(1)
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
// deadline. It returns the guest's result message, a view of guest memory
// valid until the next call. A nil fn means the export is missing. A
// *TrapError or *TimeoutError means the instance must be discarded.
func (in *instance) call(fn api.Function, msg []byte) ([]byte, error) {
	v := in.v
	if fn == nil {
		return nil, &ResultError{Policy: v.slot.name, Version: v.meta.Seq, Code: abi.CodeUnsupported}
	}
	in.timer.Reset(v.e.cfg.CallTimeout)
	err := in.callLocked(fn, msg)
	// When the deadline fired as the call returned, the result is good but
	// the instance's context is spent: spent() tells the pool.
	in.timer.Stop()
	if err != nil {
		return nil, in.classify(err)
	}
	return in.result()
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
	if in.expired.Load() {
		return &TimeoutError{Policy: v.slot.name, Version: v.meta.Seq, Limit: v.e.cfg.CallTimeout}
	}
	return &TrapError{Policy: v.slot.name, Version: v.meta.Seq, Cause: err}
}

// spent reports whether the instance's deadline fired: it must not be
// called again.
func (in *instance) spent() bool { return in.expired.Load() }

// close releases the instance's module and timer.
func (in *instance) close() {
	in.timer.Stop()
	in.mod.Close(context.Background())
}
