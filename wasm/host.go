package wasm

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"

	"github.com/tetratelabs/wazero/api"

	"github.com/distgate/distgate/abi"
)

// instantiateHost instantiates the host module abi.HostModule: log, clock,
// and read-only access to the calling policy's configuration. Each
// function finds its policy through the call's context (instanceFrom).
func (e *Engine) instantiateHost(ctx context.Context) error {
	b := e.rt.NewHostModuleBuilder(abi.HostModule)
	export := func(name string, fn api.GoModuleFunc) {
		sig := hostImports[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, sig.params, sig.results).Export(name)
	}
	export(abi.ImportLog, hostLog)
	export(abi.ImportNow, e.hostNow)
	export(abi.ImportConfigSize, hostConfigSize)
	export(abi.ImportConfigRead, hostConfigRead)
	_, err := b.Instantiate(ctx)
	return err
}

// hostLog is log(level i32, ptr i32, len i32): a record in the gateway's
// log, tagged with the policy and its version.
func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		return
	}
	level, ptr, n := slog.Level(int32(stack[0])), uint32(stack[1]), uint32(stack[2])
	msg, ok := mod.Memory().Read(ptr, min(n, maxLogBytes))
	if !ok {
		in.v.log.Warn("policy logged out of bounds", "ptr", ptr, "len", n)
		return
	}
	in.v.guestLog.record(level, string(msg))
}

// hostNow is now() -> i64: the engine's clock in Unix nanoseconds.
func (e *Engine) hostNow(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(e.cfg.Now().UnixNano())
}

// hostConfigSize is config_size() -> i32.
func hostConfigSize(ctx context.Context, _ api.Module, stack []uint64) {
	stack[0] = 0
	if in := instanceFrom(ctx); in != nil {
		stack[0] = uint64(len(in.v.meta.Config))
	}
}

// hostConfigRead is config_read(ptr i32, len i32) -> i32: it copies up to
// len bytes of the configuration to ptr and returns how many it copied (0
// when the destination is out of bounds).
func hostConfigRead(ctx context.Context, mod api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	stack[0] = 0
	in := instanceFrom(ctx)
	if in == nil {
		return
	}
	cfg := in.v.meta.Config
	if uint32(len(cfg)) < n {
		n = uint32(len(cfg))
	}
	if mod.Memory().Write(ptr, cfg[:n]) {
		stack[0] = uint64(n)
	}
}

// guestOutput is an instance's stdout and stderr: the version's guest
// log. One fd_write may carry millions of buffers, each a write here, and
// the host does not return to the guest, where the checks are, between
// them: once the call's deadline has fired every write fails, and
// fd_write returns at once with an error.
type guestOutput struct{ in *instance }

// Write implements io.Writer.
func (o guestOutput) Write(p []byte) (int, error) {
	if o.in.expired.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	return o.in.v.guestLog.Write(p)
}

// guestRand is an instance's random source (random_get): crypto/rand,
// drawn randChunk bytes at a time with a check of the call's deadline in
// between, since one random_get may ask for the whole memory.
type guestRand struct{ in *instance }

// Read implements io.Reader.
func (r guestRand) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.in.expired.Load() {
			return n, os.ErrDeadlineExceeded
		}
		m, err := rand.Read(p[n:min(len(p), n+randChunk)])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
