package wanem

import (
	"context"
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

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
