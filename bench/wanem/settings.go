package wanem

import (
	"errors"
	"fmt"
	"time"
)

// Limits of the settings, and the defaults that a zero value stands for.
const (
	// DefaultMTU is the MTU of both TUN devices when Config.MTU is zero:
	// the internet's.
	DefaultMTU = 1500
	// MaxMTU is the largest MTU the emulator accepts (a jumbo frame).
	MaxMTU = 9000
	// MinMTU is IPv4's minimum MTU (RFC 791), below which nothing works.
	MinMTU = 576

	// DefaultQueue is the bottleneck queue when Settings.Queue is zero:
	// 1000 full-size packets, Linux's default txqueuelen.
	DefaultQueue = 1000 * DefaultMTU
	// MaxQueue bounds Settings.Queue (bytes).
	MaxQueue = 1 << 30

	// DefaultReorderDelay is how long a reordered packet is held back when
	// Settings.ReorderDelay is zero.
	DefaultReorderDelay = 10 * time.Millisecond

	// MaxDelay bounds Delay, Jitter and ReorderDelay.
	MaxDelay = 30 * time.Second
	// MaxRate bounds Settings.Rate (bits per second).
	MaxRate = 100_000_000_000

	// DefaultMaxPackets is how many packets one direction holds at most
	// (queued for the bottleneck or in flight) when Config.MaxPackets is
	// zero: 400 Mbit/s over a 75 ms one-way delay keeps about 2,500 full
	// packets in flight.
	DefaultMaxPackets = 16384
	// MaxMaxPackets bounds Config.MaxPackets.
	MaxMaxPackets = 1 << 20
)

// Settings are the impairments of one direction of the link. The zero
// value is a perfect link: no delay, no loss, no rate limit.
//
// A packet meets them in this order: the partition switch, the MTU, random
// loss, bursty loss, the rate limiter's queue (drop-tail), then the delay
// line (delay, jitter, reordering). A packet whose delivery time comes
// while the direction is partitioned is dropped too: from the moment a
// partition is set, nothing more arrives.
type Settings struct {
	// Delay is the one-way delay added to every packet, after the rate
	// limiter.
	Delay time.Duration
	// Jitter varies each packet's delay uniformly within ±Jitter (never
	// below zero). Packets stay in order: one that would overtake its
	// predecessor waits for it, so under a steady stream the delays lean
	// towards Delay+Jitter.
	Jitter time.Duration
	// Loss is the probability that a packet is dropped, independently of
	// the others (0 to 1).
	Loss float64
	// Burst is bursty loss, on top of Loss; off while Burst.P is zero.
	Burst GilbertElliott
	// Reorder is the probability that a packet is held back for
	// ReorderDelay beyond its delivery time, so that the packets after it
	// pass it (0 to 1).
	Reorder float64
	// ReorderDelay is how long a reordered packet is held back; zero means
	// DefaultReorderDelay.
	ReorderDelay time.Duration
	// Rate is the bottleneck's rate in bits per second of IP packets; zero
	// means unlimited.
	Rate int64
	// Queue is how many bytes may wait for the bottleneck; a packet that
	// does not fit is dropped (drop-tail). Zero means DefaultQueue. It
	// matters only with a Rate.
	Queue int
	// Partition drops every packet, silently.
	Partition bool
}

// GilbertElliott is a two-state Markov model of bursty loss, as netem's
// gemodel: each packet first moves the chain (good to bad with probability
// P, bad to good with probability R), then is lost with the loss
// probability of the state it is in. The mean loss is
// (R*LossGood + P*LossBad) / (P+R), and a bad period lasts 1/R packets on
// average.
type GilbertElliott struct {
	P        float64 // probability of moving from the good state to the bad one, per packet
	R        float64 // probability of moving from the bad state back to the good one, per packet
	LossBad  float64 // loss probability in the bad state (netem's 1-h)
	LossGood float64 // loss probability in the good state (netem's 1-k)
}

// On reports whether the model is active.
func (g GilbertElliott) On() bool { return g.P > 0 }

// MeanLoss returns the long-run fraction of packets the model drops.
func (g GilbertElliott) MeanLoss() float64 {
	if !g.On() {
		return 0
	}
	return (g.R*g.LossGood + g.P*g.LossBad) / (g.P + g.R)
}

// ErrBadSettings is returned (wrapped) for settings out of their range.
var ErrBadSettings = errors.New("bad settings")

// Validate reports the first setting out of its range.
func (s Settings) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("wanem: %s: %w", fmt.Sprintf(format, args...), ErrBadSettings)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"delay", s.Delay}, {"jitter", s.Jitter}, {"reorder-delay", s.ReorderDelay}} {
		if d.v < 0 || d.v > MaxDelay {
			return bad("%s %v is outside 0..%v", d.name, d.v, MaxDelay)
		}
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", s.Loss}, {"reorder", s.Reorder}, {"ge p", s.Burst.P}, {"ge r", s.Burst.R},
		{"ge loss-bad", s.Burst.LossBad}, {"ge loss-good", s.Burst.LossGood}} {
		if !(p.v >= 0 && p.v <= 1) { // also refuses NaN
			return bad("%s %v is outside 0..1", p.name, p.v)
		}
	}
	switch {
	case s.Burst.On() && s.Burst.R == 0:
		return bad("ge r is 0: the bad state would never end")
	case s.Rate < 0 || s.Rate > MaxRate:
		return bad("rate %d is outside 0..%d bit/s", s.Rate, int64(MaxRate))
	case s.Queue < 0 || s.Queue > MaxQueue:
		return bad("queue %d is outside 0..%d bytes", s.Queue, MaxQueue)
	}
	return nil
}

// queue returns the queue limit in bytes, the default applied.
func (s Settings) queue() int {
	if s.Queue == 0 {
		return DefaultQueue
	}
	return s.Queue
}

// reorderDelay returns ReorderDelay, the default applied.
func (s Settings) reorderDelay() time.Duration {
	if s.ReorderDelay == 0 {
		return DefaultReorderDelay
	}
	return s.ReorderDelay
}

// Dir names one direction of the link, or both. A is the first side of the
// Config, B the second.
type Dir uint8

// The directions.
const (
	AtoB Dir = 1 << iota // packets sent from side A to side B
	BtoA                 // packets sent from side B to side A
	Both = AtoB | BtoA
)

// String returns the direction as the control protocol spells it.
func (d Dir) String() string {
	switch d {
	case AtoB:
		return "ab"
	case BtoA:
		return "ba"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Dir(%d)", uint8(d))
}
