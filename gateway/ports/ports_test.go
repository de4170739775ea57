package ports

import (
	"context"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// TestPool: a port per key, reused with its latest value; a connection is
// served with the value of the latest Open; the admission limiter refuses
// before the handler runs; Close waits for the handlers, whose context it
// ends.
func TestPool(t *testing.T) {
	lim := admit.New(admit.Limits{Rate: 1000, Burst: 1000, PerSource: 1, Total: 10, MaxSources: 10})
	served := make(chan string, 4)
	p := New(Config{Name: "test port", Addr: netip.MustParseAddr("127.0.0.1"), Max: 2, Idle: time.Hour, Admit: lim},
		func(ctx context.Context, pp *Port[string], c net.Conn) {
			defer c.Close()
			served <- pp.Key() + "=" + pp.Value()
			<-ctx.Done() // held until the pool stops
		})
	a, err := p.Open("a", "1", Owner{})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := p.Open("a", "2", Owner{}); err != nil || again != a {
		t.Fatalf("Open(a) again = %d, %v; want %d", again, err, a)
	}
	if _, err := p.Open("b", "1", Owner{}); err != nil {
		t.Fatal(err)
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
	if _, err := p.Open("a", "3", Owner{}); err == nil {
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
	busy, _ := p.Open("busy", struct{}{}, Owner{})
	p.Open("idle", struct{}{}, Owner{})
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

// clock is a test clock that moves a millisecond each time it is read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// evictPool is a pool, on a clock that ticks at each reading, whose
// handler marks its port connected when a connection sends '+', and holds
// every connection until the pool stops.
func evictPool(t *testing.T, max int) (*Pool[struct{}], chan string) {
	t.Helper()
	served := make(chan string, 16)
	clk := &clock{t: time.Now()}
	p := New(Config{Name: "test port", Addr: netip.MustParseAddr("127.0.0.1"), Max: max, Idle: time.Hour, Now: clk.now},
		func(ctx context.Context, pp *Port[struct{}], c net.Conn) {
			defer c.Close()
			b := make([]byte, 1)
			if _, err := c.Read(b); err == nil && b[0] == '+' {
				pp.MarkConnected()
			}
			served <- pp.Key()
			<-ctx.Done()
		})
	t.Cleanup(p.Close)
	return p, served
}

func open(t *testing.T, p *Pool[struct{}], key string, owner Owner) int {
	t.Helper()
	n, err := p.Open(key, struct{}{}, owner)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	return n
}

// connect makes a connection that marks port connected (it stays active
// until the pool stops).
func connect(t *testing.T, port int, served chan string) {
	t.Helper()
	c := dial(t, port)
	t.Cleanup(func() { c.Close() })
	c.Write([]byte{'+'})
	<-served
}

func keys(p *Pool[struct{}]) string {
	var ks []string
	p.Each(func(pp *Port[struct{}]) { ks = append(ks, pp.Key()) })
	slices.Sort(ks)
	return strings.Join(ks, " ")
}

// TestPoolEvictsNeverConnected: a full pool makes room by closing the port
// that was never connected and has been opened (or looked up) the least
// recently; a port that carried a connection stays; when every port has,
// Open fails.
func TestPoolEvictsNeverConnected(t *testing.T) {
	p, served := evictPool(t, 3)
	connect(t, open(t, p, "used", Owner{}), served)
	open(t, p, "old", Owner{})
	open(t, p, "new", Owner{})
	open(t, p, "newer", Owner{})
	if got := keys(p); got != "new newer used" {
		t.Fatalf("ports after a fourth Open: %s, want new newer used", got)
	}
	open(t, p, "new", Owner{}) // looked up again: now the newest
	open(t, p, "newest", Owner{})
	if got := keys(p); got != "new newest used" {
		t.Fatalf("ports after a lookup of new and a fifth Open: %s, want new newest used", got)
	}
	connect(t, open(t, p, "new", Owner{}), served)
	connect(t, open(t, p, "newest", Owner{}), served)
	if _, err := p.Open("more", struct{}{}, Owner{}); err == nil || !strings.Contains(err.Error(), "every one is in use") {
		t.Fatalf("Open with every port connected: %v", err)
	}
}

// TestPoolOwnerBound: an owner holds at most its Max ports; past it, its
// own oldest port that was never connected makes room, whatever the
// others hold, and when all of its ports are connected, Open fails for it
// and not for the others.
func TestPoolOwnerBound(t *testing.T) {
	p, served := evictPool(t, 100)
	u, other := Owner{Key: "uid 65534", Max: 2}, Owner{Key: "uid 1000", Max: 50}
	open(t, p, "theirs", other)
	open(t, p, "a", u)
	open(t, p, "b", u)
	open(t, p, "c", u)
	if got := keys(p); got != "b c theirs" {
		t.Fatalf("ports: %s, want b c theirs", got)
	}
	// A port open already is refreshed, not charged again.
	open(t, p, "theirs", u)
	connect(t, open(t, p, "b", u), served)
	connect(t, open(t, p, "c", u), served)
	if _, err := p.Open("d", struct{}{}, u); err == nil || !strings.Contains(err.Error(), "uid 65534 holds 2 test ports") {
		t.Fatalf("Open past the owner's bound, all its ports connected: %v", err)
	}
	open(t, p, "e", other)
	// Released ports give the owner room again.
	p.releaseIdle(p.cfg.Now().Add(2 * time.Hour))
	p.mu.Lock()
	n := p.owned[u.Key]
	p.mu.Unlock()
	if n != 2 {
		t.Fatalf("owner holds %d ports after releasing idle ones, want 2 (the connected ones)", n)
	}
}
