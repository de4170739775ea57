package wanem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
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

// readBatch is how many packets a direction reads from its device before
// it delivers what is due and looks at its timer again.
const readBatch = 64

// timerGranularity is the shortest interval between two wake-ups of a
// direction's timer. A packet due sooner after the last one than this is
// delivered with the next wake-up (up to timerGranularity late; never
// early), as a NIC's interrupt moderation would: at 400 Mbit/s a
// rate-limited direction wakes for every three packets rather than each.
// A wake-up costs a few system calls and a trip through Go's scheduler,
// which on a small VM is most of a packet's cost.
const timerGranularity = 100 * time.Microsecond

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

// direction is one direction of the link and its goroutine.
type direction struct {
	dir      Dir
	in, out  int      // the devices it reads from and writes to
	timer    int      // timerfd, edge-triggered in the epoll set
	ep       *os.File // the epoll set, registered with Go's poller
	epoch    time.Time
	closing  *atomic.Bool
	settings atomic.Pointer[Settings] // written by Update, read per packet

	// Owned by the goroutine.
	cur       *Settings // the settings the shaper has
	shaper    *Shaper
	line      *delayLine
	scratch   []byte        // where a packet is read when the line is full
	armed     time.Duration // when the pending timer fires; -1: none
	lastArmed time.Duration // when the last timer was set to fire
	its       unix.ItimerSpec
	events    [4]unix.EpollEvent
	err       error // why the goroutine stopped before Close

	// Counters, read by Stats.
	packets, bytes      atomic.Uint64
	delivered, outBytes atomic.Uint64
	drops               [numVerdicts]atomic.Uint64
	inFlight            atomic.Int64
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

func newDirection(dir Dir, in, out int, set Settings, cfg Config, e *Emulator) (d *direction, err error) {
	slotSize := cfg.MTU + 1 // a read that fills it is longer than the MTU
	d = &direction{
		dir: dir, in: in, out: out, timer: -1,
		epoch: e.epoch, closing: &e.closing,
		shaper:  NewShaper(set, cfg.MTU, rand.New(rand.NewPCG(cfg.Seed, uint64(dir)))),
		line:    newDelayLine(slotSize, cfg.MaxPackets),
		scratch: make([]byte, slotSize),
		armed:   -1,
	}
	d.cur = &set
	d.settings.Store(d.cur)
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	d.timer, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return d, fmt.Errorf("wanem: %s: timerfd: %w", dir, err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return d, fmt.Errorf("wanem: %s: epoll: %w", dir, err)
	}
	// os.NewFile registers a descriptor with Go's poller only if it is
	// non-blocking already.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return d, fmt.Errorf("wanem: %s: epoll: %w", dir, err)
	}
	d.ep = os.NewFile(uintptr(epfd), "wanem-"+dir.String())
	for _, ev := range []unix.EpollEvent{
		{Events: unix.EPOLLIN, Fd: int32(in)},
		{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(d.timer)},
	} {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(ev.Fd), &ev); err != nil {
			return d, fmt.Errorf("wanem: %s: epoll_ctl: %w", dir, err)
		}
	}
	return d, nil
}

// close releases the direction's descriptors (not the devices).
func (d *direction) close() {
	if d.ep != nil {
		d.ep.Close()
	}
	if d.timer >= 0 {
		unix.Close(d.timer)
	}
}

// run forwards packets until Close or an error.
func (d *direction) run() {
	rc, err := d.ep.SyscallConn()
	if err != nil {
		d.err = fmt.Errorf("wanem: %s: %w", d.dir, err)
		return
	}
	// One closure for the life of the loop: no allocation per wake-up.
	step := func(fd uintptr) bool {
		more, err := d.step(int(fd))
		if err != nil {
			d.err = err
			return true
		}
		return more
	}
	for d.err == nil {
		if err := rc.Read(step); err != nil {
			if !d.closing.Load() {
				d.err = fmt.Errorf("wanem: %s: wait: %w", d.dir, err)
			}
			return
		}
	}
}

// step reads what has arrived, delivers what is due and arms the timer
// for the next packet. It reports whether to run again at once rather than
// wait for the epoll set.
func (d *direction) step(epfd int) (again bool, err error) {
	n, err := unix.EpollWait(epfd, d.events[:], 0)
	if err != nil {
		if err == unix.EINTR {
			return true, nil
		}
		return false, fmt.Errorf("wanem: %s: epoll_wait: %w", d.dir, err)
	}
	for _, ev := range d.events[:n] {
		switch ev.Fd {
		case int32(d.in):
			if ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				return false, fmt.Errorf("wanem: %s: device gone (events %#x)", d.dir, ev.Events)
			}
			full, err := d.readBatch()
			if err != nil {
				return false, err
			}
			again = again || full
		case int32(d.timer):
			d.armed = -1 // fired
		}
	}
	now := time.Since(d.epoch)
	d.deliver(now)
	p, ok := d.line.next()
	if !ok {
		return again, nil
	}
	// The timer fires at most once per timerGranularity: packets due
	// closer together go out together, a little late.
	target := max(p.at, d.lastArmed+timerGranularity)
	if d.armed >= 0 && d.armed <= target {
		return again, nil // the pending timer fires in time
	}
	wait := target - time.Since(d.epoch)
	if wait <= 0 {
		return true, nil
	}
	d.its.Value = unix.NsecToTimespec(int64(wait))
	if err := unix.TimerfdSettime(d.timer, 0, &d.its, nil); err != nil {
		return false, fmt.Errorf("wanem: %s: timerfd_settime: %w", d.dir, err)
	}
	d.armed, d.lastArmed = target, target
	return again, nil
}

// readBatch reads up to readBatch packets and admits them; full reports
// that it stopped at the limit rather than at an empty device.
func (d *direction) readBatch() (full bool, err error) {
	for range readBatch {
		slot, buf, ok := d.line.alloc()
		if !ok {
			buf = d.scratch
		}
		n, err := unix.Read(d.in, buf)
		if err != nil {
			if ok {
				d.line.release(slot)
			}
			switch err {
			case unix.EAGAIN:
				return false, nil
			case unix.EINTR:
				continue
			}
			return false, fmt.Errorf("wanem: %s: read: %w", d.dir, err)
		}
		d.packets.Add(1)
		d.bytes.Add(uint64(n))
		if !ok {
			d.drops[DropOverflow].Add(1)
			continue
		}
		if s := d.settings.Load(); s != d.cur {
			d.cur = s
			d.shaper.Set(*s)
		}
		at, held, v := d.shaper.Admit(time.Since(d.epoch), n)
		if v != Pass {
			d.line.release(slot)
			d.drops[v].Add(1)
			continue
		}
		d.line.push(slot, n, at, held)
		d.inFlight.Add(1)
	}
	return true, nil
}

// deliver writes every packet due at now to the other device, or drops it
// if the direction is partitioned now.
func (d *direction) deliver(now time.Duration) {
	for {
		p, ok := d.line.next()
		if !ok || p.at > now {
			return
		}
		p, b := d.line.pop()
		d.inFlight.Add(-1)
		switch {
		case d.settings.Load().Partition:
			d.drops[DropPartition].Add(1)
		case d.write(b) != nil:
			d.drops[DropWrite].Add(1)
		default:
			d.delivered.Add(1)
			d.outBytes.Add(uint64(len(b)))
		}
		d.line.release(p.slot)
	}
}

func (d *direction) write(b []byte) error {
	for range 3 {
		_, err := unix.Write(d.out, b)
		if err != unix.EINTR {
			return err
		}
	}
	return unix.EINTR
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
		// Read from the sender's device; written to the receiver's.
		if _, tx, err := e.devs[i].drops(); err == nil {
			ds.KernelDropsIn = tx
		}
		if rx, _, err := e.devs[1-i].drops(); err == nil {
			ds.KernelDropsOut = rx
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
	for i, d := range e.devs {
		if d != nil {
			d.close()
			e.devs[i] = nil
		}
	}
	for i, fd := range e.tuns {
		if fd >= 0 {
			unix.Close(fd)
			e.tuns[i] = -1
		}
	}
}
