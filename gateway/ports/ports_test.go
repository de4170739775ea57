package ports

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distgate/distgate/gateway/admit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dial(t *testing.T, port int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPool: a port per key, reused with its latest value, at most Max of
// them; a connection is served with the value of the latest Open; the
// admission limiter refuses before the handler runs; Close waits for the
// handlers, whose context it ends.
func TestPool(t *testing.T) {
	lim := admit.New(admit.Limits{Rate: 1000, Burst: 1000, PerSource: 1, Total: 10, MaxSources: 10})
	served := make(chan string, 4)
	p := New(Config{Name: "test port", Addr: netip.MustParseAddr("127.0.0.1"), Max: 2, Idle: time.Hour, Admit: lim},
		func(ctx context.Context, pp *Port[string], c net.Conn) {
			defer c.Close()
			served <- pp.Key() + "=" + pp.Value()
			<-ctx.Done() // held until the pool stops
		})
	a, err := p.Open("a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := p.Open("a", "2"); err != nil || again != a {
		t.Fatalf("Open(a) again = %d, %v; want %d", again, err, a)
	}
	if _, err := p.Open("b", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Open("c", "1"); err == nil || !strings.Contains(err.Error(), "2 test ports are open") {
		t.Fatalf("a third port: %v", err)
	}
	c1 := dial(t, a)
	defer c1.Close()
	if got := <-served; got != "a=2" {
		t.Fatalf("served %s, want a=2", got)
	}
	// The limiter allows one connection per source: a second is closed
	// before it is served.
	c2 := dial(t, a)
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c2.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("a refused connection read %d, %v; want EOF", n, err)
	}
	active := int64(0)
	p.Each(func(pp *Port[string]) { active += pp.Active() })
	if active != 1 {
		t.Fatalf("%d active connections, want 1", active)
	}
	p.Close()
	if _, err := p.Open("a", "3"); err == nil {
		t.Fatal("Open after Close succeeded")
	}
}

// TestPoolReleasesIdle: a port without connections is released once idle,
// and a port serving one is kept.
func TestPoolReleasesIdle(t *testing.T) {
	release := make(chan struct{})
	p := New(Config{Name: "test port", Addr: netip.MustParseAddr("127.0.0.1"), Max: 10, Idle: time.Minute},
		func(ctx context.Context, _ *Port[struct{}], c net.Conn) {
			defer c.Close()
			<-release
		})
	defer p.Close()
	busy, _ := p.Open("busy", struct{}{})
	p.Open("idle", struct{}{})
	c := dial(t, busy)
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n := int64(0)
		p.Each(func(pp *Port[struct{}]) { n += pp.Active() })
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection was not served")
		}
	}
	p.releaseIdle(time.Now().Add(2 * time.Minute))
	var left []string
	p.Each(func(pp *Port[struct{}]) { left = append(left, pp.Key()) })
	if len(left) != 1 || left[0] != "busy" {
		t.Fatalf("ports left: %v, want [busy]", left)
	}
	close(release)
}
