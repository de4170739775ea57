package wanem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"
)

// startTestbed starts a testbed closed at the end of the test, and checks
// that closing it removes its namespaces. Tests that need it are skipped
// with -short and without root (a privilege of the machine, as in e2e);
// without iproute2 they fail under CI=true and skip elsewhere.
func startTestbed(t *testing.T, cfg TestbedConfig) *Testbed {
	t.Helper()
	requireNetns(t)
	if cfg.Seed == 0 {
		cfg.Seed = 0x5eed
	}
	tb, err := StartTestbed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	names := []Netns{tb.A.Netns, tb.B.Netns}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("closing the testbed: %v", err)
		}
		for _, n := range names {
			if _, err := os.Stat(n.Path()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("namespace %s still there after Close (%v)", n, err)
			}
		}
	})
	return tb
}

func requireNetns(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("creates network namespaces and TUN devices")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ip (iproute2) is missing (run scripts/install-deps.sh): %v", err)
		}
		t.Skipf("ip (iproute2) is missing (run make deps): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces and TUN devices need root")
	}
}

// echoServer echoes every TCP connection accepted in a site, until the
// end of the test.
func echoServer(t *testing.T, s Site, port int) string {
	t.Helper()
	addr := net.JoinHostPort(s.Addr.String(), fmt.Sprint(port))
	ln, err := s.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return addr
}

// dial dials from a site, the connection closed at the end of the test.
func dial(t *testing.T, s Site, network, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.Dial(ctx, network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpRoundTrips times n one-byte round trips over c.
func tcpRoundTrips(t *testing.T, c net.Conn, n int) []time.Duration {
	t.Helper()
	var rtts []time.Duration
	b := []byte{0}
	c.SetDeadline(time.Now().Add(time.Duration(n) * 5 * time.Second))
	for i := range n {
		b[0] = byte(i)
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil || b[0] != byte(i) {
			t.Fatalf("round trip %d: %v, %d", i, err, b[0])
		}
		rtts = append(rtts, time.Since(start))
	}
	return rtts
}

// pinger sends ICMP echo requests from a site over a raw socket.
type pinger struct {
	c  net.PacketConn
	id uint16
}

func newPinger(t *testing.T, s Site) *pinger {
	t.Helper()
	c, err := s.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &pinger{c: c, id: uint16(os.Getpid())}
}

// ping sends one echo request with size bytes of payload to dst and waits
// up to timeout for its reply.
func (p *pinger) ping(dst string, seq uint16, size int, timeout time.Duration) (time.Duration, error) {
	msg := make([]byte, 8+size)
	msg[0] = 8 // echo request
	binary.BigEndian.PutUint16(msg[4:], p.id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	for i := range size {
		msg[8+i] = byte(i)
	}
	binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
	start := time.Now()
	if _, err := p.c.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
		return 0, err
	}
	p.c.SetReadDeadline(start.Add(timeout))
	buf := make([]byte, 9000)
	for range 100 {
		n, _, err := p.c.ReadFrom(buf)
		if err != nil {
			return 0, err
		}
		if n == len(msg) && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == p.id && binary.BigEndian.Uint16(buf[6:]) == seq {
			return time.Since(start), nil
		}
	}
	return 0, errors.New("no echo reply among 100 ICMP messages")
}

func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// datagram is what udpSink saw of one datagram from udpSend.
type datagram struct {
	seq  uint32
	size int
	sent time.Duration // since the test's base time
	recv time.Duration
}

// udpSink records the datagrams a site receives on port until stop.
type udpSink struct {
	c    net.PacketConn
	base time.Time
	done chan struct{}
	got  []datagram
}

func newUDPSink(t *testing.T, s Site, port int, base time.Time) *udpSink {
	t.Helper()
	c, err := s.ListenPacket("udp4", net.JoinHostPort(s.Addr.String(), fmt.Sprint(port)))
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.UDPConn).SetReadBuffer(8 << 20)
	k := &udpSink{c: c, base: base, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			k.got = append(k.got, datagram{seq: binary.BigEndian.Uint32(buf), size: n,
				sent: time.Duration(binary.BigEndian.Uint64(buf[4:])), recv: time.Since(base)})
		}
	}()
	t.Cleanup(func() { k.stop() })
	return k
}

// stop stops the sink and returns what it received, in arrival order.
func (k *udpSink) stop() []datagram {
	k.c.Close()
	<-k.done
	return k.got
}

// udpSender sends numbered, timestamped datagrams from a site.
type udpSender struct {
	c    net.Conn
	base time.Time
	buf  []byte
}

func newUDPSender(t *testing.T, s Site, dst string, base time.Time) *udpSender {
	t.Helper()
	return &udpSender{c: dial(t, s, "udp4", dst), base: base, buf: make([]byte, 65536)}
}

func (u *udpSender) send(seq uint32, size int) error {
	b := u.buf[:max(size, 12)]
	binary.BigEndian.PutUint32(b, seq)
	binary.BigEndian.PutUint64(b[4:], uint64(time.Since(u.base)))
	_, err := u.c.Write(b)
	return err
}

// sendPaced sends n datagrams of size bytes numbered from first, never
// more than window ahead of what the emulator has read (read returns it),
// so that a test running beside others on a busy machine does not
// overflow the device's queue while the emulator waits for a CPU.
func (u *udpSender) sendPaced(t *testing.T, read func() uint64, first uint32, n, size, window int) {
	t.Helper()
	start := read()
	deadline := time.Now().Add(30 * time.Second)
	for i := range n {
		// Every quarter window, wait until at most half a window is unread
		// (read is not cheap: it reads /proc).
		if i%(window/4) == 0 {
			for uint64(i) >= read()-start+uint64(window/2) {
				if time.Now().After(deadline) {
					t.Fatalf("the emulator read %d of %d datagrams in 30s", read()-start, i)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		if err := u.send(first+uint32(i), size); err != nil {
			t.Fatal(err)
		}
	}
}

// waitIdle waits until the emulator holds no packet in either direction,
// or fails after timeout.
func waitIdle(t *testing.T, e *Emulator, timeout time.Duration) Stats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := e.Stats()
		if s.AB.InFlight == 0 && s.BA.InFlight == 0 {
			// The last packets written are read by their sockets at once;
			// a short pause lets the receivers' goroutines take them.
			time.Sleep(20 * time.Millisecond)
			return e.Stats()
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator still holds packets after %v: %v", timeout, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
