package wanem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRoundTrip checks ping and TCP round trips against the delays set:
// never below their sum, and the median of a batch of 21 within 10% of
// it. A busy machine only ever delays a round trip, so a batch whose
// median misses is measured again, up to three batches: an emulator that
// is off misses in all of them. The test does not run in parallel with
// the other tests of the package, which load the CPUs.
func TestRoundTrip(t *testing.T) {
	for _, c := range []struct{ ab, ba time.Duration }{
		{20 * time.Millisecond, 20 * time.Millisecond},
		{40 * time.Millisecond, 10 * time.Millisecond}, // asymmetric
	} {
		t.Run(fmt.Sprintf("%v+%v", c.ab, c.ba), func(t *testing.T) {
			t.Parallel()
			tb := startTestbed(t, TestbedConfig{AB: Settings{Delay: c.ab}, BA: Settings{Delay: c.ba}})
			p := newPinger(t, tb.A)
			seq := 0
			checkRoundTrips(t, "ping", c.ab+c.ba, 21, func() time.Duration {
				seq++
				rtt, err := p.ping(tb.B.Addr.String(), uint16(seq), 56, 2*time.Second)
				if err != nil {
					t.Fatalf("ping %d: %v", seq, err)
				}
				return rtt
			})
			conn := dial(t, tb.A, "tcp4", echoServer(t, tb.B, 7000))
			checkRoundTrips(t, "tcp", c.ab+c.ba, 21, func() time.Duration { return tcpRoundTrips(t, conn, 1)[0] })
		})
	}
}

// checkRoundTrips measures batches of n round trips with rt, and checks
// that none is below want and that the median of one of up to three
// batches is within 10% of want.
func checkRoundTrips(t *testing.T, what string, want time.Duration, n int, rt func() time.Duration) {
	t.Helper()
	for batch := 1; ; batch++ {
		var rtts []time.Duration
		for range n {
			rtts = append(rtts, rt())
		}
		m := median(rtts)
		t.Logf("%s: median %v, min %v, max %v; set %v", what, m, minDur(rtts), maxDur(rtts), want)
		if lo := minDur(rtts); lo < want {
			t.Fatalf("%s: a round trip of %v, below the %v set", what, lo, want)
		}
		if (m - want).Abs() <= want/10 {
			return
		}
		if batch == 3 {
			t.Errorf("%s: median round trip %v in 3 batches of %d; want %v ± 10%%", what, m, n, want)
			return
		}
	}
}

// TestMTU checks that both devices have an MTU of 1500: a 1500-byte packet
// crosses whole, and a larger datagram crosses as fragments.
func TestMTU(t *testing.T) {
	t.Parallel()
	tb := startTestbed(t, TestbedConfig{})
	for _, s := range []Site{tb.A, tb.B} {
		err := s.Do(func() error {
			ifi, err := net.InterfaceByName(DefaultDev)
			if err != nil {
				return err
			}
			if ifi.MTU != 1500 {
				return fmt.Errorf("MTU %d; want 1500", ifi.MTU)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", s.Netns, err)
		}
	}
	p := newPinger(t, tb.A)
	if _, err := p.ping(tb.B.Addr.String(), 1, 1500-20-8, 2*time.Second); err != nil {
		t.Errorf("a ping of 1500 bytes: %v", err)
	}
	before := tb.Emulator.Stats().AB
	base := time.Now()
	sink := newUDPSink(t, tb.B, 7001, base)
	newUDPSender(t, tb.A, fmt.Sprintf("%s:7001", tb.B.Addr), base).send(1, 4000)
	st := waitIdle(t, tb.Emulator, 2*time.Second).AB
	got := sink.stop()
	if len(got) != 1 || got[0].size != 4000 {
		t.Errorf("received %+v; want one datagram of 4000 bytes", got)
	}
	// 4000 bytes of UDP in 1500-byte packets: 3 fragments.
	if n := st.Packets - before.Packets; n != 3 {
		t.Errorf("the emulator saw %d packets for a 4000-byte datagram; want 3 fragments", n)
	}
	if st.Drops[DropOversize] != 0 {
		t.Errorf("%d packets over the MTU reached the emulator", st.Drops[DropOversize])
	}
}

// TestLoss checks that random and bursty loss, measured end to end over
// UDP, stay within the 99.9% interval of the rate set.
func TestLoss(t *testing.T) {
	t.Parallel()
	t.Run("random", func(t *testing.T) {
		t.Parallel()
		const n, p = 10000, 0.02
		lost, st := sendThrough(t, Settings{Loss: p}, n)
		lo, hi := binomialInterval(n, p)
		t.Logf("%d of %d lost (%.2f%%), set %.2f%%, 99.9%% interval [%d, %d]", lost, n, 100*float64(lost)/n, 100*p, lo, hi)
		if lost < lo || lost > hi {
			t.Errorf("%d of %d lost; want within [%d, %d] for a loss of %v", lost, n, lo, hi, p)
		}
		if got := st.Drops[DropLoss]; got != uint64(lost) {
			t.Errorf("the emulator counts %d losses; the receiver missed %d", got, lost)
		}
	})
	t.Run("gilbert-elliott", func(t *testing.T) {
		t.Parallel()
		const n = 20000
		g := GilbertElliott{P: 0.005, R: 0.2, LossBad: 1}
		lost, st := sendThrough(t, Settings{Burst: g}, n)
		// The Markov chain's variance (see TestShaperGilbertElliott).
		pi, lambda := g.MeanLoss(), 1-g.P-g.R
		sd := math.Sqrt(n * pi * (1 - pi) * (1 + lambda) / (1 - lambda))
		t.Logf("%d of %d lost (%.2f%%), set %.2f%% in bursts of %.0f, 99.9%% interval %.0f ± %.0f", lost, n, 100*float64(lost)/n, 100*pi, 1/g.R, n*pi, z999*sd)
		if math.Abs(float64(lost)-n*pi) > z999*sd {
			t.Errorf("%d of %d lost; want %.0f ± %.0f", lost, n, n*pi, z999*sd)
		}
		if got := st.Drops[DropBurst]; got != uint64(lost) {
			t.Errorf("the emulator counts %d losses; the receiver missed %d", got, lost)
		}
	})
}

// sendThrough sends n datagrams from A to B across a direction with
// settings ab, and returns how many B missed. It fails if any datagram
// missed the emulator (the kernel dropped it before) or came twice.
func sendThrough(t *testing.T, ab Settings, n int) (lost int, st DirStats) {
	t.Helper()
	tb := startTestbed(t, TestbedConfig{AB: ab})
	base := time.Now()
	sink := newUDPSink(t, tb.B, 7002, base)
	snd := newUDPSender(t, tb.A, fmt.Sprintf("%s:7002", tb.B.Addr), base)
	snd.sendPaced(t, func() uint64 { return tb.Emulator.Stats().AB.Packets }, 0, n, 100, 1000)
	st = waitIdle(t, tb.Emulator, 5*time.Second).AB
	got := sink.stop()
	if st.Packets != uint64(n) {
		t.Fatalf("the emulator read %d packets; %d were sent (the kernel dropped %d)", st.Packets, n, st.KernelDropsIn)
	}
	seen := make([]bool, n)
	for _, d := range got {
		if int(d.seq) >= n || seen[d.seq] {
			t.Fatalf("datagram %d received twice or never sent", d.seq)
		}
		seen[d.seq] = true
	}
	return n - len(got), st
}

// TestThroughput checks that a TCP transfer runs at the rate limit, within
// 10%, as IP packets on the link and as payload.
func TestThroughput(t *testing.T) {
	t.Parallel()
	const rate = 40_000_000
	tb := startTestbed(t, TestbedConfig{
		AB: Settings{Rate: rate, Delay: 10 * time.Millisecond},
		BA: Settings{Delay: 10 * time.Millisecond},
	})
	addr := net.JoinHostPort(tb.B.Addr.String(), "7003")
	ln, err := tb.B.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := dial(t, tb.A, "tcp4", addr)
	r, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// The sender writes until the receiver has measured.
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for ctx.Err() == nil {
			if _, err := c.Write(buf); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	defer func() {
		cancel()
		c.Close()
		<-sent
	}()

	const warmup, measure = 500 * time.Millisecond, 2 * time.Second
	buf := make([]byte, 256<<10)
	var payload int64
	var wire uint64
	r.SetReadDeadline(time.Now().Add(warmup + measure + 5*time.Second))
	start := time.Now()
	var from time.Time
	for time.Since(start) < warmup+measure {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from.IsZero() {
			if time.Since(start) >= warmup {
				from, wire = time.Now(), tb.Emulator.Stats().AB.DeliveredBytes
			}
			continue
		}
		payload += int64(n)
	}
	elapsed := time.Since(from).Seconds()
	st := tb.Emulator.Stats()
	wireRate := float64(st.AB.DeliveredBytes-wire) * 8 / elapsed
	mss := sendMSS(t, c)
	goodput := float64(payload) * 8 / elapsed
	wantGoodput := rate * float64(mss) / 1500
	t.Logf("link %.1f Mbit/s, payload %.1f Mbit/s (MSS %d: %.1f expected), set %.1f Mbit/s; drops %v; cpu %v per packet (whole process)",
		wireRate/1e6, goodput/1e6, mss, wantGoodput/1e6, rate/1e6, st.AB.Drops, st.CPUPerPacket())
	if math.Abs(wireRate-rate) > rate/10 {
		t.Errorf("IP packets at %.1f Mbit/s; want %.1f ± 10%%", wireRate/1e6, rate/1e6)
	}
	if math.Abs(goodput-wantGoodput) > wantGoodput/10 {
		t.Errorf("payload at %.1f Mbit/s; want %.1f ± 10%%", goodput/1e6, wantGoodput/1e6)
	}
}

// sendMSS returns the TCP connection's sending MSS.
func sendMSS(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if ierr != nil {
		t.Fatal(ierr)
	}
	return int(info.Snd_mss)
}

// TestPartition checks that a partition drops everything silently: an
// established connection sees no reset and no data, a dial times out
// (even to a closed port, whose reset is dropped too), and that after
// healing the connection delivers what was written and resets pass again.
func TestPartition(t *testing.T) {
	t.Parallel()
	d := Settings{Delay: 5 * time.Millisecond}
	tb := startTestbed(t, TestbedConfig{AB: d, BA: d})
	open := echoServer(t, tb.B, 7004)
	closed := net.JoinHostPort(tb.B.Addr.String(), "7005")
	c := dial(t, tb.A, "tcp4", open)
	tcpRoundTrips(t, c, 1)

	if err := tb.Emulator.Partition(Both, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("write during the partition: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read during the partition: %d, %v; want a timeout", n, err)
	}
	for _, addr := range []string{open, closed} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		c2, err := tb.A.Dial(ctx, "tcp4", addr)
		cancel()
		if err == nil {
			c2.Close()
			t.Errorf("dial %s during the partition succeeded", addr)
		} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("dial %s during the partition: %v; want a timeout (no reset, no ICMP)", addr, err)
		}
	}
	if st := tb.Emulator.Stats(); st.AB.Drops[DropPartition] == 0 {
		t.Errorf("no packet counted as dropped by the partition: %v", st)
	}

	if err := tb.Emulator.Partition(Both, false); err != nil {
		t.Fatal(err)
	}
	// TCP retransmits the byte written during the partition, the echo
	// comes back: the connection survived.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		t.Fatalf("after healing: read %q, %v; want the echo of x", b, err)
	}
	tcpRoundTrips(t, c, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := tb.A.Dial(ctx, "tcp4", closed); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial a closed port after healing: %v; want connection refused", err)
	}
	c3 := dial(t, tb.A, "tcp4", open)
	tcpRoundTrips(t, c3, 1)
}

// TestPartitionOneWay checks that each direction partitions on its own.
func TestPartitionOneWay(t *testing.T) {
	t.Parallel()
	d := Settings{Delay: 2 * time.Millisecond}
	tb := startTestbed(t, TestbedConfig{AB: d, BA: d})
	base := time.Now()
	toB := newUDPSender(t, tb.A, fmt.Sprintf("%s:7006", tb.B.Addr), base)
	toA := newUDPSender(t, tb.B, fmt.Sprintf("%s:7006", tb.A.Addr), base)
	for i, cut := range []Dir{AtoB, BtoA, 0} {
		sinkB := newUDPSink(t, tb.B, 7006, base)
		sinkA := newUDPSink(t, tb.A, 7006, base)
		if cut != 0 {
			if err := tb.Emulator.Partition(cut, true); err != nil {
				t.Fatal(err)
			}
		}
		for j := range 5 {
			toB.send(uint32(i*10+j), 100)
			toA.send(uint32(i*10+j), 100)
		}
		waitIdle(t, tb.Emulator, 2*time.Second)
		gotB, gotA := len(sinkB.stop()), len(sinkA.stop())
		wantB, wantA := 5, 5
		if cut == AtoB {
			wantB = 0
		}
		if cut == BtoA {
			wantA = 0
		}
		if gotB != wantB || gotA != wantA {
			t.Errorf("cut %v: B received %d, A received %d; want %d and %d", cut, gotB, gotA, wantB, wantA)
		}
		if cut != 0 {
			if err := tb.Emulator.Partition(cut, false); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestJitterOrder checks that jitter spreads the one-way delays over
// ±Jitter without reordering, and that reordering, when asked, reorders.
func TestJitterOrder(t *testing.T) {
	t.Parallel()
	const delay, jitter = 10 * time.Millisecond, 4 * time.Millisecond
	for _, reorder := range []float64{0, 0.1} {
		t.Run(fmt.Sprintf("reorder=%v", reorder), func(t *testing.T) {
			t.Parallel()
			tb := startTestbed(t, TestbedConfig{AB: Settings{Delay: delay, Jitter: jitter, Reorder: reorder, ReorderDelay: 3 * time.Millisecond}})
			base := time.Now()
			sink := newUDPSink(t, tb.B, 7007, base)
			snd := newUDPSender(t, tb.A, fmt.Sprintf("%s:7007", tb.B.Addr), base)
			const n = 1000
			for i := range n {
				snd.send(uint32(i), 100)
				if i%10 == 9 {
					time.Sleep(time.Millisecond)
				}
			}
			waitIdle(t, tb.Emulator, 5*time.Second)
			got := sink.stop()
			if len(got) != n {
				t.Fatalf("received %d of %d", len(got), n)
			}
			inversions := 0
			lo, hi := time.Hour, time.Duration(0)
			for i, d := range got {
				if i > 0 && d.seq < got[i-1].seq {
					inversions++
				}
				lo, hi = min(lo, d.recv-d.sent), max(hi, d.recv-d.sent)
			}
			t.Logf("one-way delays in [%v, %v] (set %v ± %v); %d inversions", lo, hi, delay, jitter, inversions)
			if lo < delay-jitter {
				t.Errorf("a one-way delay of %v, below %v", lo, delay-jitter)
			}
			if hi-lo < jitter {
				t.Errorf("one-way delays span %v; want jitter to spread them over more than %v", hi-lo, jitter)
			}
			if reorder == 0 && inversions > 0 {
				t.Errorf("%d datagrams arrived before one sent earlier; want none without reordering", inversions)
			}
			if reorder > 0 && inversions == 0 {
				t.Errorf("no datagram overtaken with reorder=%v", reorder)
			}
		})
	}
}

// TestSettingsWhileRunning checks that a delay jump from 40 to 400 ms and
// back, and loss, take effect on a running connection. Like TestRoundTrip,
// it runs alone.
func TestSettingsWhileRunning(t *testing.T) {
	d := Settings{Delay: 20 * time.Millisecond}
	tb := startTestbed(t, TestbedConfig{AB: d, BA: d})
	c := dial(t, tb.A, "tcp4", echoServer(t, tb.B, 7008))
	for _, oneWay := range []time.Duration{20 * time.Millisecond, 200 * time.Millisecond, 20 * time.Millisecond} {
		if _, err := tb.Emulator.Exec(fmt.Sprintf("set both delay=%v", oneWay)); err != nil {
			t.Fatal(err)
		}
		// The first round trip after a cut may wait for packets still on
		// the old delay; the next ones see the new one.
		tcpRoundTrips(t, c, 1)
		checkRoundTrips(t, fmt.Sprintf("one-way %v", oneWay), 2*oneWay, 3, func() time.Duration { return tcpRoundTrips(t, c, 1)[0] })
	}
	if _, err := tb.Emulator.Exec("set ab loss=100%"); err != nil {
		t.Fatal(err)
	}
	p := newPinger(t, tb.A)
	if _, err := p.ping(tb.B.Addr.String(), 1, 10, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ping at 100%% loss: %v; want a timeout", err)
	}
	out, err := tb.Emulator.Exec("show")
	if err != nil {
		t.Fatal(err)
	}
	want := "set ab delay=20ms jitter=0s loss=100% ge=off reorder=0% reorder-delay=0s rate=off queue=default partition=off\n" +
		"set ba delay=20ms jitter=0s loss=0% ge=off reorder=0% reorder-delay=0s rate=off queue=default partition=off"
	if out != want {
		t.Errorf("show:\n%s\nwant:\n%s", out, want)
	}
	if _, err := tb.Emulator.Exec("set ab ge=1%,0"); !errors.Is(err, ErrBadSettings) {
		t.Errorf("invalid settings: %v; want ErrBadSettings", err)
	}
}

func minDur(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = min(m, x)
	}
	return m
}

func maxDur(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = max(m, x)
	}
	return m
}
