package wasm

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/distgate/distgate/abi"
)

// Default limits. Each is the value a zero Config field stands for.
const (
	// DefaultMaxModuleBytes bounds an uploaded module. A Go policy built
	// with the standard toolchain is about 2 MiB; 16 MiB leaves room for
	// fatter runtimes without letting an upload fill the data dir.
	DefaultMaxModuleBytes = 16 << 20
	// DefaultMaxMemoryBytes caps the linear memory of one instance. A Go
	// policy (samples/policies/static-map) has 3.3 MiB after its runtime
	// starts and 8 MiB after a million decisions (the Go heap doubles
	// before each GC); 64 MiB leaves room for large tables in a
	// configuration while bounding a runaway guest. A WAT policy needs a
	// page or two. The memory is reserved address space, committed only as
	// the guest touches it.
	DefaultMaxMemoryBytes = 64 << 20
	// DefaultCallTimeout is the deadline of one decision, in wall-clock
	// time. A decision takes microseconds, but a Go guest's garbage
	// collection pauses it for up to 3 ms now and then, longer on a machine
	// short of CPU: 10 ms cuts a runaway loop off quickly without killing
	// healthy instances.
	DefaultCallTimeout = 10 * time.Millisecond
	// DefaultInitTimeout bounds instantiation: the guest's runtime
	// initializer (_initialize) and distgate_init with its configuration.
	DefaultInitTimeout = time.Second
	// DefaultKeepVersions is how many versions of a policy are kept for
	// rollback, the active one included.
	DefaultKeepVersions = 5
	// DefaultMaxConfigBytes bounds a policy's configuration blob.
	DefaultMaxConfigBytes = 1 << 20
	// DefaultBackoff is the first pause after CrashesBeforeBackoff
	// consecutive crashes; it doubles with each further crash up to
	// DefaultMaxBackoff.
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// Fixed limits.
const (
	// CrashesBeforeBackoff is how many consecutive crashes (traps,
	// timeouts, failed instantiations) of one policy version are retried
	// with a fresh instance before calls fail fast for a while.
	CrashesBeforeBackoff = 3
	// maxLogBytes truncates a guest's log message or stderr write.
	maxLogBytes = 4 << 10
	// initialBuffer is the size of the request buffer allocated in each
	// new instance; it grows when a request is larger.
	initialBuffer = 4 << 10
	// pageSize is the WebAssembly page size.
	pageSize = 64 << 10
	// maxWait bounds how long a decision waits for a free instance of its
	// policy and for an executor (exec.go) before it fails closed with
	// ErrBusy. Waits are short unless policies are far too slow for the
	// load or hostile ones hold every instance until their deadlines.
	maxWait = time.Second
	// maxCloseWait bounds how long Close waits for guest calls to end
	// after interrupting them; they end at their next check, in
	// milliseconds.
	maxCloseWait = 2 * time.Second
	// fuelPerNanosecond is the fuel a call gets per nanosecond of its
	// deadline (instrument.go): one check. A Go policy's decision passes
	// about 700 checks in 5 to 10 microseconds, a tenth of that rate; only
	// a loop of nothing (a nanosecond an iteration) runs out before its
	// deadline, and fails as it would have at the deadline.
	fuelPerNanosecond = 1
	// maxFuel caps the fuel of a call or an instance's start, whatever its
	// deadline: the fuel bounds how long a garbage collection waits for a
	// guest the timer cannot stop (a loop runs 250M checks in a quarter
	// of a second to a second), and it is still a few seconds of a Go
	// guest's work.
	maxFuel = 250_000_000
	// maxTableElements caps the references in a module's tables, which
	// live on the gateway's heap (instrument.go): 8 MiB of it. A Go
	// policy's table has about 6,000.
	maxTableElements = 1 << 20
	// randChunk is how many random bytes random_get draws between two
	// checks of the call's deadline.
	randChunk = 64 << 10
)

// Config configures an Engine. Zero means default.
type Config struct {
	// DataDir holds the policy store (policies/) and the compilation cache
	// (cache/). "" keeps everything in memory: nothing survives Close.
	DataDir string
	// CacheDir overrides where compiled code is cached (DataDir/cache).
	CacheDir string
	Logger   *slog.Logger     // default: discard
	Now      func() time.Time // the clock of backoff, logs and guests; default time.Now

	MaxModuleBytes int           // DefaultMaxModuleBytes
	MaxMemoryBytes int           // DefaultMaxMemoryBytes, rounded down to 64 KiB pages
	MaxConfigBytes int           // DefaultMaxConfigBytes
	CallTimeout    time.Duration // DefaultCallTimeout
	InitTimeout    time.Duration // DefaultInitTimeout
	// Instances bounds the instances of one policy version; calls beyond it
	// wait for a free instance. Default: GOMAXPROCS.
	Instances    int
	KeepVersions int           // DefaultKeepVersions
	Backoff      time.Duration // DefaultBackoff
	MaxBackoff   time.Duration // DefaultMaxBackoff

	// FailRoute is the route a lookup gets when its policy fails (traps,
	// times out, returns garbage, or is missing). The zero value denies.
	// Authorize always fails closed to a refusal.
	FailRoute abi.Route
}

// populate returns a copy of c with defaults filled in, or an error for a
// value that cannot work.
func (c Config) populate() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxModuleBytes, DefaultMaxModuleBytes)
	def(&c.MaxMemoryBytes, DefaultMaxMemoryBytes)
	def(&c.MaxConfigBytes, DefaultMaxConfigBytes)
	def(&c.Instances, runtime.GOMAXPROCS(0))
	def(&c.KeepVersions, DefaultKeepVersions)
	defDur(&c.CallTimeout, DefaultCallTimeout)
	defDur(&c.InitTimeout, DefaultInitTimeout)
	defDur(&c.Backoff, DefaultBackoff)
	defDur(&c.MaxBackoff, DefaultMaxBackoff)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CacheDir == "" && c.DataDir != "" {
		c.CacheDir = c.DataDir + "/cache"
	}
	switch {
	case c.MaxModuleBytes < 0 || c.MaxConfigBytes < 0 || c.Instances < 0 || c.KeepVersions < 0:
		return c, fmt.Errorf("wasm: config: negative limit")
	case c.MaxMemoryBytes < pageSize || c.MaxMemoryBytes > 4<<30:
		return c, fmt.Errorf("wasm: config: memory cap %d bytes, want 64 KiB..4 GiB", c.MaxMemoryBytes)
	case c.CallTimeout < 0 || c.InitTimeout < 0 || c.Backoff < 0 || c.MaxBackoff < c.Backoff:
		return c, fmt.Errorf("wasm: config: negative timeout or backoff")
	}
	if err := c.FailRoute.Validate(); err != nil {
		return c, fmt.Errorf("wasm: config: fail route: %w", err)
	}
	return c, nil
}

func (c *Config) memoryPages() uint32 { return uint32(c.MaxMemoryBytes / pageSize) }
