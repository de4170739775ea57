package wanem

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// countingSource counts the random numbers drawn.
type countingSource struct {
	rand.Source
	n int
}

func (c *countingSource) Uint64() uint64 { c.n++; return c.Source.Uint64() }

func newShaper(t *testing.T, s Settings) *Shaper {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return NewShaper(s, 1500, rand.New(rand.NewPCG(1, 2)))
}

func TestShaperPerfectLinkDrawsNoRandomness(t *testing.T) {
	src := &countingSource{Source: rand.NewPCG(1, 2)}
	s := NewShaper(Settings{}, 1500, rand.New(src))
	for i := range 1000 {
		now := time.Duration(i) * time.Microsecond
		at, held, v := s.Admit(now, 1500)
		if v != Pass || held || at != now {
			t.Fatalf("packet %d at %v: Admit = %v, %v, %v; want %v, false, pass", i, now, at, held, v, now)
		}
	}
	if src.n != 0 {
		t.Errorf("a perfect link drew %d random numbers; want none (runs with the same seed stay comparable)", src.n)
	}
}

func TestShaperDelayPartitionMTU(t *testing.T) {
	s := newShaper(t, Settings{Delay: 20 * time.Millisecond})
	if at, _, v := s.Admit(time.Second, 100); v != Pass || at != time.Second+20*time.Millisecond {
		t.Errorf("Admit = %v, %v; want pass at 1.02s", at, v)
	}
	if _, _, v := s.Admit(time.Second, 1501); v != DropOversize {
		t.Errorf("1501 bytes over an MTU of 1500: %v; want %v", v, DropOversize)
	}
	set := s.Settings()
	set.Partition = true
	s.Set(set)
	if _, _, v := s.Admit(2*time.Second, 100); v != DropPartition {
		t.Errorf("partitioned: %v; want %v", v, DropPartition)
	}
	set.Partition = false
	s.Set(set)
	if at, _, v := s.Admit(3*time.Second, 100); v != Pass || at != 3*time.Second+20*time.Millisecond {
		t.Errorf("healed: Admit = %v, %v; want pass at 3.02s", at, v)
	}
}

func TestShaperLossWithinBinomialBounds(t *testing.T) {
	for _, p := range []float64{0.001, 0.01, 0.05, 0.5} {
		s := newShaper(t, Settings{Loss: p})
		const n = 200000
		lost := 0
		for i := range n {
			if _, _, v := s.Admit(time.Duration(i), 100); v == DropLoss {
				lost++
			} else if v != Pass {
				t.Fatalf("verdict %v", v)
			}
		}
		lo, hi := binomialInterval(n, p)
		if lost < lo || lost > hi {
			t.Errorf("loss %v: %d of %d lost; want within the 99.9%% interval [%d, %d]", p, lost, n, lo, hi)
		}
	}
}

func TestShaperGilbertElliott(t *testing.T) {
	g := GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}
	s := newShaper(t, Settings{Burst: g})
	const n = 400000
	lost, bursts, run := 0, 0, 0
	for i := range n {
		_, _, v := s.Admit(time.Duration(i), 100)
		switch v {
		case DropBurst:
			lost++
			run++
		case Pass:
			if run > 0 {
				bursts++
			}
			run = 0
		default:
			t.Fatalf("verdict %v", v)
		}
	}
	// With LossBad 1 and LossGood 0, a packet is lost exactly when the
	// chain is in its bad state: a two-state Markov chain whose count of
	// bad steps has the variance n*pi*(1-pi)*(1+lambda)/(1-lambda), lambda
	// = 1-P-R its second eigenvalue.
	pi := g.MeanLoss()
	lambda := 1 - g.P - g.R
	sd := math.Sqrt(n * pi * (1 - pi) * (1 + lambda) / (1 - lambda))
	if d := math.Abs(float64(lost) - n*pi); d > z999*sd {
		t.Errorf("%d of %d lost; want %.0f ± %.0f (99.9%%)", lost, n, n*pi, z999*sd)
	}
	// Bad periods last a geometric number of packets, mean 1/R.
	mean := float64(lost) / float64(bursts)
	sdMean := math.Sqrt((1-g.R)/(g.R*g.R)) / math.Sqrt(float64(bursts))
	if math.Abs(mean-1/g.R) > z999*sdMean {
		t.Errorf("mean burst %.2f packets over %d bursts; want %.2f ± %.2f", mean, bursts, 1/g.R, z999*sdMean)
	}

	// Loss in the good state and partial loss in the bad one.
	g = GilbertElliott{P: 0.05, R: 0.5, LossBad: 0.5, LossGood: 0.01}
	s = newShaper(t, Settings{Burst: g})
	lost = 0
	for i := range n {
		if _, _, v := s.Admit(time.Duration(i), 100); v == DropBurst {
			lost++
		}
	}
	// A loose bound: the Bernoulli draw on top of the chain only adds
	// variance of at most n/4.
	lambda = 1 - g.P - g.R
	pb := g.P / (g.P + g.R)
	sd = math.Sqrt(n*pb*(1-pb)*(1+lambda)/(1-lambda)*(g.LossBad-g.LossGood)*(g.LossBad-g.LossGood) + n/4.0)
	if want := n * g.MeanLoss(); math.Abs(float64(lost)-want) > z999*sd {
		t.Errorf("%d of %d lost; want %.0f ± %.0f", lost, n, want, z999*sd)
	}
}

func TestShaperRateAndQueue(t *testing.T) {
	// 8 Mbit/s: a 1000-byte packet takes 1 ms; the queue holds 10 of them.
	s := newShaper(t, Settings{Rate: 8_000_000, Queue: 10_000, Delay: 5 * time.Millisecond})
	for i := 1; i <= 10; i++ {
		at, _, v := s.Admit(0, 1000)
		if want := time.Duration(i)*time.Millisecond + 5*time.Millisecond; v != Pass || at != want {
			t.Fatalf("packet %d: %v at %v; want pass at %v", i, v, at, want)
		}
	}
	if _, _, v := s.Admit(0, 1000); v != DropQueue {
		t.Fatalf("11th packet into a full queue: %v; want %v", v, DropQueue)
	}
	// 4.5 ms later, four packets have left and half of a fifth: room for
	// four more.
	now := 4500 * time.Microsecond
	for i := range 4 {
		at, _, v := s.Admit(now, 1000)
		if want := time.Duration(11+i)*time.Millisecond + 5*time.Millisecond; v != Pass || at != want {
			t.Fatalf("packet %d after 4.5ms: %v at %v; want pass at %v", i, v, at, want)
		}
	}
	if _, _, v := s.Admit(now, 1000); v != DropQueue {
		t.Fatalf("one more: %v; want %v", v, DropQueue)
	}

	// Offered at twice the rate for a simulated second, the bytes that get
	// through leave at the rate.
	s = newShaper(t, Settings{Rate: 40_000_000, Queue: 64 << 10})
	var passed, last time.Duration
	bytes := 0
	for i := range 2 * 40_000_000 / 8 / 1500 {
		now := time.Duration(i) * 150 * time.Microsecond // 1500 B per 150 µs = 80 Mbit/s
		at, _, v := s.Admit(now, 1500)
		if v == Pass {
			bytes += 1500
			passed++
			last = at
		}
	}
	rate := float64(bytes*8) / last.Seconds()
	if math.Abs(rate-40e6) > 40e6*0.01 {
		t.Errorf("%d bytes through by %v: %.0f bit/s; want 40e6 ± 1%%", bytes, last, rate)
	}
}

func TestShaperJitterKeepsOrder(t *testing.T) {
	const delay, jitter = 10 * time.Millisecond, 5 * time.Millisecond
	s := newShaper(t, Settings{Delay: delay, Jitter: jitter})
	// Packets 20 ms apart never wait for each other: their delays are the
	// uniform draws themselves.
	var sum, minD, maxD time.Duration = 0, time.Hour, 0
	const n = 20000
	for i := range n {
		now := time.Duration(i) * 20 * time.Millisecond
		at, held, v := s.Admit(now, 100)
		if v != Pass || held {
			t.Fatalf("verdict %v held %v", v, held)
		}
		d := at - now
		sum += d
		minD, maxD = min(minD, d), max(maxD, d)
	}
	if minD < delay-jitter || maxD > delay+jitter || minD > delay-jitter+100*time.Microsecond || maxD < delay+jitter-100*time.Microsecond {
		t.Errorf("delays in [%v, %v]; want to fill [%v, %v]", minD, maxD, delay-jitter, delay+jitter)
	}
	// Uniform on ±5 ms: sd 5/sqrt(3) ms, so the mean of n is within
	// 3.29*2.89ms/sqrt(n) = 67 µs of 10 ms.
	mean := sum / n
	if bound := time.Duration(z999 * float64(jitter) / math.Sqrt(3) / math.Sqrt(n)); (mean - delay).Abs() > bound {
		t.Errorf("mean delay %v; want %v ± %v", mean, delay, bound)
	}

	// Packets 100 µs apart: delivered in order, never before now+delay-jitter.
	s = newShaper(t, Settings{Delay: delay, Jitter: jitter})
	var last time.Duration
	for i := range n {
		now := time.Duration(i) * 100 * time.Microsecond
		at, _, _ := s.Admit(now, 100)
		if at < last || at < now+delay-jitter || at > now+delay+jitter {
			t.Fatalf("packet %d at %v due %v after one due %v: out of order or out of [%v, %v]", i, now, at, last, now+delay-jitter, now+delay+jitter)
		}
		last = at
	}
}

func TestShaperReorder(t *testing.T) {
	const p = 0.1
	s := newShaper(t, Settings{Delay: 10 * time.Millisecond, Reorder: p, ReorderDelay: 3 * time.Millisecond})
	const n = 50000
	var lastIn, lastHeld time.Duration
	held, overtaken := 0, 0
	var prevHeld []time.Duration // due times of held packets, for counting those passed
	for i := range n {
		now := time.Duration(i) * time.Millisecond
		at, h, v := s.Admit(now, 100)
		if v != Pass {
			t.Fatalf("verdict %v", v)
		}
		if h {
			held++
			if at != now+13*time.Millisecond || at < lastHeld {
				t.Fatalf("held packet %d due %v; want %v, after %v", i, at, now+13*time.Millisecond, lastHeld)
			}
			lastHeld = at
			prevHeld = append(prevHeld, at)
			continue
		}
		if at != now+10*time.Millisecond || at < lastIn {
			t.Fatalf("packet %d due %v; want %v, after %v", i, at, now+10*time.Millisecond, lastIn)
		}
		lastIn = at
		// A packet sent 1 ms after a held one is due 2 ms before it.
		if len(prevHeld) > 0 && prevHeld[len(prevHeld)-1] > at {
			overtaken++
		}
	}
	lo, hi := binomialInterval(n, p)
	if held < lo || held > hi {
		t.Errorf("%d of %d held back; want within [%d, %d]", held, n, lo, hi)
	}
	if overtaken < held/2 {
		t.Errorf("%d packets passed a held one, with %d held; want most held ones passed", overtaken, held)
	}
}

func TestShaperSetKeepsOrder(t *testing.T) {
	// A delay cut from 400 ms to 40 ms: the packets sent after the cut wait
	// for those in flight, as over a path whose queue drains.
	s := newShaper(t, Settings{Delay: 400 * time.Millisecond})
	at1, _, _ := s.Admit(0, 100)
	s.Set(Settings{Delay: 40 * time.Millisecond})
	at2, _, _ := s.Admit(time.Millisecond, 100)
	if at2 != at1 {
		t.Errorf("after the cut: due %v; want %v (the last packet before it)", at2, at1)
	}
	at3, _, _ := s.Admit(time.Second, 100)
	if at3 != time.Second+40*time.Millisecond {
		t.Errorf("a second later: due %v; want 1.04s", at3)
	}
}

func TestShaperAdmitAllocatesNothing(t *testing.T) {
	s := newShaper(t, Settings{Delay: time.Millisecond, Jitter: time.Millisecond, Loss: 0.01,
		Burst: GilbertElliott{P: 0.01, R: 0.3, LossBad: 1}, Reorder: 0.01, Rate: 1e9})
	l := newDelayLine(1501, 1024)
	var now time.Duration
	allocs := testing.AllocsPerRun(10000, func() {
		now += 20 * time.Microsecond
		slot, buf, ok := l.alloc()
		if !ok {
			t.Fatal("line full")
		}
		at, held, v := s.Admit(now, len(buf)-1)
		if v != Pass {
			l.release(slot)
			return
		}
		l.push(slot, 1500, at, held)
		for {
			p, ok := l.next()
			if !ok || p.at > now {
				break
			}
			p, _ = l.pop()
			l.release(p.slot)
		}
	})
	// The line allocates its first buffers in chunks, then recycles.
	if allocs > 0.01 {
		t.Errorf("%v allocations per packet; want none in steady state", allocs)
	}
}

func TestSettingsValidate(t *testing.T) {
	good := []Settings{
		{},
		{Delay: MaxDelay, Jitter: MaxDelay, Loss: 1, Reorder: 1, Rate: MaxRate, Queue: MaxQueue},
		{Burst: GilbertElliott{P: 1, R: 1, LossBad: 1, LossGood: 1}},
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	bad := []Settings{
		{Delay: -1}, {Delay: MaxDelay + 1}, {Jitter: -1}, {ReorderDelay: -1},
		{Loss: -0.1}, {Loss: 1.1}, {Loss: math.NaN()}, {Reorder: 2},
		{Burst: GilbertElliott{P: 0.1}}, {Burst: GilbertElliott{P: 0.1, R: 0.1, LossBad: 2}},
		{Rate: -1}, {Rate: MaxRate + 1}, {Queue: -1}, {Queue: MaxQueue + 1},
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v: valid; want an error", s)
		}
	}
}
