package wanem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Addresses of the two sides when Side.Addr is zero: from the benchmarking
// range 198.18.0.0/15 (RFC 2544), one /15 shared by both devices, so that
// each side reaches the other on-link through its TUN device.
const (
	DefaultPrefixA = "198.18.0.1/15"
	DefaultPrefixB = "198.19.0.1/15"
	// DefaultDev is the TUN device's name inside each namespace.
	DefaultDev = "wan0"
)

// Config configures an Emulator.
type Config struct {
	A, B Side // the two ends of the link, each in its own namespace

	// MTU of both devices; zero means DefaultMTU. A packet longer than it
	// never reaches the emulator (the kernel fragments or refuses it).
	MTU int
	// AB and BA are the initial settings of each direction.
	AB, BA Settings
	// MaxPackets bounds the packets each direction holds (queued for its
	// rate limit or in flight); more are dropped (DropOverflow). Zero
	// means DefaultMaxPackets. Buffers are allocated as they are needed
	// and recycled.
	MaxPackets int
	// Seed seeds the random numbers of the loss models, jitter and
	// reordering (one stream per direction); zero means a random seed,
	// which Emulator.Seed reports.
	Seed uint64
}

// Side is one end of the link: a TUN device in a network namespace.
type Side struct {
	Netns Netns        // made by the caller (NewNetns)
	Dev   string       // the device's name in Netns; zero means DefaultDev
	Addr  netip.Prefix // the device's address; zero means DefaultPrefixA or DefaultPrefixB
}

// Emulator forwards IP packets between two TUN devices, each in its own
// network namespace, and impairs each direction with its Settings. Each
// direction is one goroutine, parked in Go's poller on an epoll set of its
// device and a timerfd armed for the next packet due: a wake-up reads what
// arrived, delivers what is due, and re-arms the timer. Settings may change
// at any time. Close it to remove both devices.
type Emulator struct {
	cfg   Config
	epoch time.Time // origin of the directions' clocks
	tuns  [2]int    // A's device, B's device
	devs  [2]*devStats
	dirs  [2]*direction

	wg        sync.WaitGroup // the directions' goroutines
	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error

	mu sync.Mutex // serialises settings changes (Update reads, then writes)
}

// New creates a TUN device in each side's namespace, addresses it and
// starts forwarding. It needs root (CAP_NET_ADMIN in the namespaces).
func New(cfg Config) (*Emulator, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, epoch: time.Now(), tuns: [2]int{-1, -1}}
	ok := false
	defer func() {
		if !ok {
			e.release()
		}
	}()
	for i, s := range []Side{cfg.A, cfg.B} {
		fd, err := openTUN(s.Netns, s.Dev, cfg.MTU, s.Addr)
		if err != nil {
			return nil, err
		}
		e.tuns[i] = fd
		if e.devs[i], err = openDevStats(s.Netns, s.Dev); err != nil {
			return nil, err
		}
	}
	for i, set := range []Settings{cfg.AB, cfg.BA} {
		d, err := newDirection(Dir(1<<i), e.tuns[i], e.tuns[1-i], set, cfg, e)
		if err != nil {
			return nil, err
		}
		e.dirs[i] = d
	}
	ok = true
	for _, d := range e.dirs {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			d.run()
		}()
	}
	return e, nil
}

// fill applies the defaults and validates.
func (c *Config) fill() error {
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MaxPackets == 0 {
		c.MaxPackets = DefaultMaxPackets
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	for i, def := range []string{DefaultPrefixA, DefaultPrefixB} {
		s := []*Side{&c.A, &c.B}[i]
		if s.Dev == "" {
			s.Dev = DefaultDev
		}
		if !s.Addr.IsValid() {
			s.Addr = netip.MustParsePrefix(def)
		}
		if s.Netns == "" {
			return fmt.Errorf("wanem: side %c: no namespace", "AB"[i])
		}
	}
	switch {
	case c.A.Netns == c.B.Netns:
		return fmt.Errorf("wanem: both sides in namespace %s: want one each", c.A.Netns)
	case c.MTU < MinMTU || c.MTU > MaxMTU:
		return fmt.Errorf("wanem: MTU %d is outside %d..%d", c.MTU, MinMTU, MaxMTU)
	case c.MaxPackets < 1 || c.MaxPackets > MaxMaxPackets:
		return fmt.Errorf("wanem: MaxPackets %d is outside 1..%d", c.MaxPackets, MaxMaxPackets)
	}
	for _, s := range []Settings{c.AB, c.BA} {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Seed returns the seed of the emulator's random numbers.
func (e *Emulator) Seed() uint64 { return e.cfg.Seed }

// Config returns the emulator's configuration, defaults filled in, with
// the initial settings.
func (e *Emulator) Config() Config { return e.cfg }

// Settings returns the settings in force in d (AtoB or BtoA; for Both,
// those of AtoB).
func (e *Emulator) Settings(d Dir) Settings {
	if d == BtoA {
		return *e.dirs[1].settings.Load()
	}
	return *e.dirs[0].settings.Load()
}

// Set replaces the settings of d (AtoB, BtoA or Both). Packets already
// admitted keep their delivery times, except that a partition drops them
// when they fall due.
func (e *Emulator) Set(d Dir, s Settings) error {
	return e.Update(d, func(Settings) Settings { return s })
}

// Update replaces the settings of each direction in d with what fn returns
// for them, atomically with respect to other changes. Nothing changes if
// a result is invalid.
func (e *Emulator) Update(d Dir, fn func(Settings) Settings) error {
	if d == 0 || d&^Both != 0 {
		return fmt.Errorf("wanem: direction %v: %w", d, ErrBadSettings)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var next [2]*Settings
	for i, dir := range e.dirs {
		if d&dir.dir == 0 {
			continue
		}
		s := fn(*dir.settings.Load())
		if err := s.Validate(); err != nil {
			return fmt.Errorf("wanem: %s: %w", dir.dir, err)
		}
		next[i] = &s
	}
	for i, s := range next {
		if s != nil {
			e.dirs[i].settings.Store(s)
		}
	}
	return nil
}

// Partition cuts (on) or heals (off) the directions in d: while cut, a
// direction drops every packet silently, including those already in
// flight when they fall due.
func (e *Emulator) Partition(d Dir, on bool) error {
	return e.Update(d, func(s Settings) Settings { s.Partition = on; return s })
}

// Exec runs one line of the control protocol and returns the lines of its
// reply, without the final "ok" (see ParseCommand).
func (e *Emulator) Exec(line string) (string, error) {
	c, err := ParseCommand(line)
	if err != nil {
		return "", err
	}
	switch c.Op {
	case OpSet:
		return "", e.Update(c.Dir, c.Apply)
	case OpShow:
		return SetCommand(AtoB, e.Settings(AtoB)).String() + "\n" + SetCommand(BtoA, e.Settings(BtoA)).String(), nil
	default: // OpStats
		return e.Stats().String(), nil
	}
}

// Stats returns the counters of both directions and the CPU the process
// has used.
func (e *Emulator) Stats() Stats {
	s := Stats{Elapsed: time.Since(e.epoch)}
	for i, d := range e.dirs {
		ds := &s.AB
		if i == 1 {
			ds = &s.BA
		}
		ds.Packets, ds.Bytes = d.packets.Load(), d.bytes.Load()
		ds.Delivered, ds.DeliveredBytes = d.delivered.Load(), d.outBytes.Load()
		for v := range d.drops {
			ds.Drops[v] = d.drops[v].Load()
		}
		ds.InFlight = d.inFlight.Load()
	}
	// A direction reads from its sender's device and writes to its
	// receiver's: A's device transmits what goes from A to B.
	for i, dev := range e.devs {
		rx, tx, err := dev.drops()
		if err != nil {
			continue // closed, or the namespace is gone with its counters
		}
		if i == 0 {
			s.AB.KernelDropsIn, s.BA.KernelDropsOut = tx, rx
		} else {
			s.BA.KernelDropsIn, s.AB.KernelDropsOut = tx, rx
		}
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		s.User = time.Duration(ru.Utime.Nano())
		s.System = time.Duration(ru.Stime.Nano())
	}
	return s
}

// Close stops forwarding, removes both devices and waits for the
// directions' goroutines. It returns why a direction stopped early, if
// one did. It is idempotent.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		for _, d := range e.dirs {
			d.ep.Close() // wakes its goroutine
		}
		e.wg.Wait()
		var errs []error
		for _, d := range e.dirs {
			errs = append(errs, d.err)
		}
		e.release()
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// release closes every descriptor; the goroutines must have stopped.
func (e *Emulator) release() {
	for _, d := range e.dirs {
		if d != nil {
			d.close()
		}
	}
	for _, d := range e.devs {
		if d != nil {
			d.close() // Stats may still read it: it answers with an error
		}
	}
	for i, fd := range e.tuns {
		if fd >= 0 {
			unix.Close(fd)
			e.tuns[i] = -1
		}
	}
}
