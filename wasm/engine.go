package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/distgate/distgate/abi"
)

// Engine runs named policies. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache // nil without a cache dir
	wasi  map[string]api.FunctionDefinition

	closed atomic.Bool
	done   chan struct{} // closed by Close: waits end
	// exec holds a token per goroutine running guest code; its capacity
	// is below GOMAXPROCS (exec.go).
	exec chan struct{}
	bufs sync.Pool // *[]byte: encoded requests

	liveMu   sync.Mutex // guards the following
	live     map[*instance]struct{}
	versions int           // versions loaded and not yet closed
	closing  bool          // Close has interrupted the live instances
	drained  chan struct{} // made by Close, closed when versions is 0

	// slots maps names to policies. It is replaced, never modified, so
	// that decisions read it without a lock.
	slots atomic.Pointer[map[string]*slot]

	mu    sync.Mutex // guards the following, and serializes admin calls
	store *store
}

// slot is a named policy: the version in use and the counters.
type slot struct {
	name  string
	stats stats
	cur   atomic.Pointer[version] // nil when no version is loaded

	lastLog    atomic.Int64 // Unix ns of the last failure logged
	suppressed atomic.Int64 // failures not logged since

	loadErr error // why the active version did not load; guarded by Engine.mu
}

// PolicyInfo describes an installed policy.
type PolicyInfo struct {
	Name     string
	Active   Version   // the version answering decisions; Seq 0 when none is loaded
	Versions []Version // the kept versions, newest first
	Stats    Stats
	Err      error // why the active version is not loaded, when it is not
}

// New starts an engine and loads the active version of every policy
// stored under cfg.DataDir. A policy that fails to load is logged, shown
// in Policies with its error, and fails closed until a good version is
// installed or activated.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	cfg, err := cfg.populate()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, done: make(chan struct{}), exec: make(chan struct{}, executors()), live: map[*instance]struct{}{}}
	// Deadlines are enforced by instrumenting modules (instrument.go), not
	// by WithCloseOnContextDone, which costs a Go guest ten times its run
	// time.
	rc := wazero.NewRuntimeConfig().WithMemoryLimitPages(cfg.memoryPages())
	if cfg.CacheDir != "" {
		if err := checkCacheDir(cfg.CacheDir); err != nil {
			return nil, err
		}
		if e.cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("wasm: compilation cache: %w", err)
		}
		rc = rc.WithCompilationCache(e.cache)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(err error) (*Engine, error) {
		e.rt.Close(ctx)
		if e.cache != nil {
			e.cache.Close(ctx)
		}
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
		return fail(fmt.Errorf("wasm: wasi: %w", err))
	}
	e.wasi = e.rt.Module(abi.WASIModule).ExportedFunctionDefinitions()
	if err := e.instantiateHost(ctx); err != nil {
		return fail(fmt.Errorf("wasm: host module: %w", err))
	}
	dir := ""
	if cfg.DataDir != "" {
		dir = filepath.Join(cfg.DataDir, "policies")
	}
	if e.store, err = openStore(dir, cfg.KeepVersions); err != nil {
		return fail(err)
	}
	slots := map[string]*slot{}
	for _, name := range e.store.names() {
		s := &slot{name: name}
		slots[name] = s
		x := e.store.indexes[name]
		meta, ok := x.find(x.Active)
		if !ok {
			s.loadErr = fmt.Errorf("active version %d is not in the index", x.Active)
		} else if module, err := e.store.module(meta); err != nil {
			s.loadErr = err
		} else if v, err := e.load(ctx, s, meta, module); err != nil {
			s.loadErr = err
		} else {
			s.cur.Store(v)
		}
		if s.loadErr != nil {
			cfg.Logger.Error("policy not loaded: it fails closed", "policy", name, "version", x.Active, "err", s.loadErr)
		}
	}
	e.slots.Store(&slots)
	return e, nil
}

// Close stops the engine: decisions fail with ErrClosed, waits end, guest
// calls in flight are interrupted (they fail closed at their next check,
// in milliseconds), then the runtime is closed. It returns within
// maxCloseWait whatever the policies do; if calls are still running then
// (or when ctx ends first), it leaves the runtime open, since closing it
// would unmap memory under them, and says so. It is idempotent.
func (e *Engine) Close(ctx context.Context) error {
	if e.closed.Swap(true) {
		return nil
	}
	close(e.done)
	drained := e.interruptAll()
	e.mu.Lock() // after the interrupts: an Install in flight ends with them
	defer e.mu.Unlock()
	for _, s := range *e.slots.Load() {
		if v := s.cur.Swap(nil); v != nil {
			v.release()
		}
	}
	t := time.NewTimer(maxCloseWait)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		return fmt.Errorf("wasm: close: guest calls still running after %v: the runtime is left open", maxCloseWait)
	case <-ctx.Done():
		return fmt.Errorf("wasm: close: guest calls still running: the runtime is left open: %w", ctx.Err())
	}
	err := e.rt.Close(ctx)
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// interruptAll interrupts every live instance, refuses new ones, and
// returns a channel closed once every version is closed.
func (e *Engine) interruptAll() <-chan struct{} {
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	e.closing = true
	for in := range e.live {
		in.expire()
	}
	e.drained = make(chan struct{})
	if e.versions == 0 {
		close(e.drained)
	}
	return e.drained
}

// track adds an instance to the live set; false once Close has begun.
func (e *Engine) track(in *instance) bool {
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	if e.closing {
		return false
	}
	e.live[in] = struct{}{}
	return true
}

// untrack removes a closed instance from the live set.
func (e *Engine) untrack(in *instance) {
	e.liveMu.Lock()
	delete(e.live, in)
	e.liveMu.Unlock()
}

// versionAdded counts a version being loaded; false once Close has begun.
func (e *Engine) versionAdded() bool {
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	if e.closing {
		return false
	}
	e.versions++
	return true
}

// versionClosed counts a closed version.
func (e *Engine) versionClosed() {
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	e.versions--
	if e.versions == 0 && e.drained != nil {
		close(e.drained)
	}
}

// Install validates a module, starts it with config, stores it as the
// policy's newest version and makes it active, atomically: decisions in
// flight finish on the version they started on, later ones use the new
// one, none is dropped. A module refused by validation or by its
// distgate_init yields an error wrapping ErrInvalidModule that says why;
// the active version is then unchanged.
func (e *Engine) Install(ctx context.Context, name string, module, config []byte) (Version, error) {
	if err := checkName(name); err != nil {
		return Version{}, err
	}
	if len(config) > e.cfg.MaxConfigBytes {
		return Version{}, fmt.Errorf("wasm: install %s: %w: configuration of %d bytes exceeds the cap of %d",
			name, ErrInvalidModule, len(config), e.cfg.MaxConfigBytes)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return Version{}, ErrClosed
	}
	sum := sha256.Sum256(module)
	meta := Version{
		Policy: name, Seq: e.store.next(name), SHA256: hex.EncodeToString(sum[:]), Size: len(module),
		Config: bytes.Clone(config), Installed: e.cfg.Now().UTC(),
	}
	s := (*e.slots.Load())[name]
	if s == nil {
		s = &slot{name: name}
	}
	v, err := e.load(ctx, s, meta, module)
	if err != nil {
		return Version{}, fmt.Errorf("wasm: install %s: %w", name, err)
	}
	if err := e.store.add(meta, module); err != nil {
		v.release()
		return Version{}, fmt.Errorf("wasm: install %s: %w", name, err)
	}
	e.publishLocked(s, v)
	e.cfg.Logger.Info("policy installed", "policy", name, "version", meta.Seq, "sha256", meta.SHA256, "size", meta.Size)
	return meta, nil
}

// Check validates a module and its configuration as Install does —
// compiles it, checks it against the ABI and the limits, starts an
// instance with the configuration — and stores, activates and changes
// nothing. Its errors are those of Install.
func (e *Engine) Check(ctx context.Context, module, config []byte) error {
	if len(config) > e.cfg.MaxConfigBytes {
		return fmt.Errorf("wasm: check: %w: configuration of %d bytes exceeds the cap of %d",
			ErrInvalidModule, len(config), e.cfg.MaxConfigBytes)
	}
	if e.closed.Load() {
		return ErrClosed
	}
	s := &slot{name: "(check)"}
	v, err := e.load(ctx, s, Version{Policy: s.name, Config: config}, module)
	if err != nil {
		return fmt.Errorf("wasm: check: %w", err)
	}
	v.release()
	return nil
}

// Activate makes a kept version of a policy active again (a rollback or
// a roll forward), with the configuration it was installed with.
func (e *Engine) Activate(ctx context.Context, name string, seq int) (Version, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.activateLocked(ctx, name, seq)
}

// Rollback activates the newest kept version older than the active one.
func (e *Engine) Rollback(ctx context.Context, name string) (Version, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.store.indexes[name]
	if x == nil {
		return Version{}, fmt.Errorf("wasm: rollback %s: %w", name, ErrNoPolicy)
	}
	prev := 0
	for _, v := range x.Versions {
		if v.Seq < x.Active {
			prev = v.Seq
		}
	}
	if prev == 0 {
		return Version{}, fmt.Errorf("wasm: rollback %s: no version older than %d is kept", name, x.Active)
	}
	return e.activateLocked(ctx, name, prev)
}

func (e *Engine) activateLocked(ctx context.Context, name string, seq int) (Version, error) {
	if e.closed.Load() {
		return Version{}, ErrClosed
	}
	x := e.store.indexes[name]
	if x == nil {
		return Version{}, fmt.Errorf("wasm: activate %s: %w", name, ErrNoPolicy)
	}
	meta, ok := x.find(seq)
	if !ok {
		return Version{}, fmt.Errorf("wasm: activate %s: version %d is not kept (kept: %v)", name, seq, seqs(x.Versions))
	}
	module, err := e.store.module(meta)
	if err != nil {
		return Version{}, fmt.Errorf("wasm: activate %s: %w", name, err)
	}
	s := (*e.slots.Load())[name]
	v, err := e.load(ctx, s, meta, module)
	if err != nil {
		return Version{}, fmt.Errorf("wasm: activate %s v%d: %w", name, seq, err)
	}
	if err := e.store.activate(name, seq); err != nil {
		v.release()
		return Version{}, fmt.Errorf("wasm: activate %s: %w", name, err)
	}
	e.publishLocked(s, v)
	e.cfg.Logger.Info("policy activated", "policy", name, "version", seq)
	return meta, nil
}

// Remove uninstalls a policy and deletes its versions. Later decisions
// naming it fail closed with ErrNoPolicy.
func (e *Engine) Remove(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.slots.Load()
	s := old[name]
	if s == nil {
		return fmt.Errorf("wasm: remove %s: %w", name, ErrNoPolicy)
	}
	if err := e.store.remove(name); err != nil {
		return err
	}
	slots := make(map[string]*slot, len(old))
	for k, v := range old {
		if k != name {
			slots[k] = v
		}
	}
	e.slots.Store(&slots)
	if v := s.cur.Swap(nil); v != nil {
		v.release()
	}
	e.cfg.Logger.Info("policy removed", "policy", name)
	return nil
}

// publishLocked makes v the active version of s and adds s to the map.
func (e *Engine) publishLocked(s *slot, v *version) {
	s.loadErr = nil
	if old := s.cur.Swap(v); old != nil {
		old.release()
	}
	if cur := *e.slots.Load(); cur[s.name] != s {
		slots := make(map[string]*slot, len(cur)+1)
		for k, v := range cur {
			slots[k] = v
		}
		slots[s.name] = s
		e.slots.Store(&slots)
	}
}

// load compiles and checks a module, and starts its first instance.
func (e *Engine) load(ctx context.Context, s *slot, meta Version, module []byte) (*version, error) {
	if err := checkBytes(module, e.cfg.MaxModuleBytes); err != nil {
		return nil, err
	}
	if err := checkMemory(module, e.cfg.memoryPages()); err != nil {
		return nil, err
	}
	instrumented, err := instrument(module)
	if err != nil {
		return nil, err
	}
	cm, err := e.rt.CompileModule(ctx, instrumented)
	if err != nil {
		return nil, fmt.Errorf("%w: not valid WebAssembly: %v", ErrInvalidModule, err)
	}
	ex, err := checkModule(cm, e.cfg.memoryPages(), e.wasi)
	if err != nil {
		cm.Close(ctx)
		return nil, err
	}
	if !e.versionAdded() {
		cm.Close(ctx)
		return nil, ErrClosed
	}
	v := e.newVersion(s, meta, cm, ex)
	w := wait{ctx: ctx, e: e}
	err = e.startGuest(&w, s.name)
	var in *instance
	if err == nil {
		in, err = v.get(&w)
		e.endGuest()
	}
	w.stop()
	if err != nil {
		v.release()
		var trap *TrapError
		switch {
		case errors.As(err, &trap):
			return nil, fmt.Errorf("%w: %v", ErrInvalidModule, trap.Cause)
		case errors.Is(err, ErrClosed):
			return nil, err
		}
		return nil, fmt.Errorf("wasm: starting a first instance: %w", err)
	}
	v.put(in, nil)
	return v, nil
}

// Policies describes the installed policies, sorted by name.
func (e *Engine) Policies() []PolicyInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []PolicyInfo
	for _, name := range e.store.names() {
		out = append(out, e.infoLocked(name))
	}
	return out
}

// Policy describes one policy.
func (e *Engine) Policy(name string) (PolicyInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store.indexes[name] == nil {
		return PolicyInfo{}, fmt.Errorf("wasm: policy %q: %w", name, ErrNoPolicy)
	}
	return e.infoLocked(name), nil
}

func (e *Engine) infoLocked(name string) PolicyInfo {
	info := PolicyInfo{Name: name}
	x := e.store.indexes[name]
	for i := len(x.Versions) - 1; i >= 0; i-- {
		info.Versions = append(info.Versions, x.Versions[i])
	}
	if s := (*e.slots.Load())[name]; s != nil {
		info.Stats = s.stats.snapshot()
		info.Err = s.loadErr
		if v := s.cur.Load(); v != nil {
			info.Active = v.meta
		}
	}
	return info
}

func seqs(vs []Version) []int {
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.Seq
	}
	return slices.Clip(out)
}

// Module returns the module of a kept version of a policy, checked
// against its hash: what a gateway shares with the other gateways of its
// site.
func (e *Engine) Module(name string, seq int) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.store.indexes[name]
	if x == nil {
		return nil, fmt.Errorf("wasm: module of %s: %w", name, ErrNoPolicy)
	}
	meta, ok := x.find(seq)
	if !ok {
		return nil, fmt.Errorf("wasm: module of %s: version %d is not kept (kept: %v)", name, seq, seqs(x.Versions))
	}
	return e.store.module(meta)
}
