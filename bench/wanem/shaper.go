package wanem

import (
	"math/rand/v2"
	"time"
)

// Verdict is what the emulator did with a packet: delivered it, or dropped
// it for a cause.
type Verdict uint8

// The verdicts. Every drop has its own counter in DirStats.
const (
	Pass          Verdict = iota // scheduled for delivery
	DropPartition                // the direction is partitioned
	DropOversize                 // longer than the MTU
	DropLoss                     // random loss (Settings.Loss)
	DropBurst                    // bursty loss (Settings.Burst)
	DropQueue                    // the bottleneck's queue is full (drop-tail)
	DropOverflow                 // the emulator holds Config.MaxPackets packets already
	DropWrite                    // the receiving TUN device refused it
	numVerdicts
)

var verdictNames = [numVerdicts]string{"pass", "partition", "oversize", "loss", "burst", "queue", "overflow", "write"}

// String returns the verdict's name as the stats report it.
func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "verdict?"
}

// Shaper decides the fate of the packets of one direction: it is the
// emulator's impairment logic as a pure state machine. It does no I/O and
// reads no clock: the caller passes the time (a monotonic offset from any
// origin, never decreasing) and the random source. It is not safe for
// concurrent use.
type Shaper struct {
	set Settings
	mtu int
	rnd *rand.Rand

	bad        bool          // the Gilbert–Elliott chain is in its bad state
	busyUntil  time.Duration // when the bottleneck has sent everything queued
	lastAt     time.Duration // delivery time of the last packet kept in order
	lastHeldAt time.Duration // delivery time of the last packet held back
}

// NewShaper returns a shaper for packets of at most mtu bytes, drawing its
// random numbers from rnd. The settings must be valid.
func NewShaper(s Settings, mtu int, rnd *rand.Rand) *Shaper {
	return &Shaper{set: s, mtu: mtu, rnd: rnd}
}

// Settings returns the settings in force.
func (s *Shaper) Settings() Settings { return s.set }

// Set changes the settings from the next packet on. Packets already
// scheduled keep their delivery times; the loss chain's state, the
// bottleneck's backlog and the order of deliveries carry over (a delay cut
// from 400 ms to 40 ms makes new packets wait for the old ones rather than
// overtake them).
func (s *Shaper) Set(set Settings) { s.set = set }

// Admit decides the fate of a packet of size bytes offered at now. For
// Pass it returns when the packet is due for delivery and whether it is
// held back (reordered): packets not held back are due in the order they
// were admitted, and so are the held ones among themselves.
func (s *Shaper) Admit(now time.Duration, size int) (at time.Duration, held bool, v Verdict) {
	set := &s.set
	switch {
	case set.Partition:
		return 0, false, DropPartition
	case size > s.mtu:
		return 0, false, DropOversize
	case set.Loss > 0 && s.rnd.Float64() < set.Loss:
		return 0, false, DropLoss
	case set.Burst.On() && s.burstLoss():
		return 0, false, DropBurst
	}

	depart := now
	if set.Rate > 0 {
		start := max(now, s.busyUntil)
		// Bytes still waiting ahead of this packet: the backlog drains at
		// the rate, so it is the bottleneck's remaining busy time (in
		// floating point: a backlog left by a slow rate times a fast new
		// one overflows an int64).
		backlog := float64(start-now) * float64(set.Rate) / (8 * float64(time.Second))
		if backlog+float64(size) > float64(set.queue()) {
			return 0, false, DropQueue
		}
		depart = start + time.Duration(int64(size)*8*int64(time.Second)/set.Rate)
		s.busyUntil = depart
	}

	at = depart + set.Delay
	if set.Jitter > 0 {
		at += time.Duration(s.rnd.Int64N(2*int64(set.Jitter)+1)) - set.Jitter
		at = max(at, depart)
	}
	if set.Reorder > 0 && s.rnd.Float64() < set.Reorder {
		at = max(at+set.reorderDelay(), s.lastHeldAt)
		s.lastHeldAt = at
		return at, true, Pass
	}
	at = max(at, s.lastAt)
	s.lastAt = at
	return at, false, Pass
}

// burstLoss moves the Gilbert–Elliott chain one packet on and reports
// whether that packet is lost.
func (s *Shaper) burstLoss() bool {
	g := &s.set.Burst
	if s.bad {
		if s.rnd.Float64() < g.R {
			s.bad = false
		}
	} else if s.rnd.Float64() < g.P {
		s.bad = true
	}
	p := g.LossGood
	if s.bad {
		p = g.LossBad
	}
	return p > 0 && s.rnd.Float64() < p
}
