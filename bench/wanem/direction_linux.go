package wanem

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// readBatch is how many packets a direction reads from its device before
// it delivers what is due and looks at its timer again.
const readBatch = 64

// timerGranularity is the shortest interval between two wake-ups of a
// direction's timer. A packet due sooner after the last one than this is
// delivered with the next wake-up (up to timerGranularity late; never
// early), as a NIC's interrupt moderation would: at 400 Mbit/s a
// rate-limited direction wakes for every three packets rather than each.
// A wake-up costs a few system calls and a trip through Go's scheduler.
const timerGranularity = 100 * time.Microsecond

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
