package wanem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
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
// crosses whole, and a larger datagram crosses as fragments. And that
// nothing leaves the sites: an address outside the link is unreachable.
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
	for _, s := range []Site{tb.A, tb.B} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := s.Dial(ctx, "tcp4", "192.0.2.1:80") // TEST-NET-1
		cancel()
		if err == nil {
			c.Close()
		}
		if !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("%s: dial 192.0.2.1: %v; want network unreachable", s.Netns, err)
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
