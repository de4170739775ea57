package admit

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var now = time.Unix(1000, 0)

func mustAdmit(t *testing.T, l *Limiter, peer string, evict func()) *Ticket {
	t.Helper()
	tk, err := l.Admit(netip.MustParseAddr(peer), now, evict)
	if err != nil {
		t.Fatalf("%s refused: %v", peer, err)
	}
	return tk
}

func refused(t *testing.T, l *Limiter, peer string, want error) {
	t.Helper()
	if _, err := l.Admit(netip.MustParseAddr(peer), now, nil); !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", peer, err, want)
	}
}

func TestLimiter(t *testing.T) {
	l := New(Limits{Rate: 1000, Burst: 1000, PerSource: 2, Total: 3, MaxSources: 100})
	a1 := mustAdmit(t, l, "192.0.2.1", nil)
	mustAdmit(t, l, "192.0.2.1", nil)
	refused(t, l, "192.0.2.1", ErrSource)
	b := mustAdmit(t, l, "192.0.2.2", nil)
	refused(t, l, "198.51.100.2", ErrTotal) // nothing to evict
	a1.Done()
	a1.Done() // twice: no effect
	mustAdmit(t, l, "192.0.2.2", nil)
	refused(t, l, "192.0.2.2", ErrSource)
	b.Done()
	if st := l.Stats(); st.Active != 2 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}

	// The rate: a burst of 2, then one per second.
	r := New(Limits{Rate: 1, Burst: 2, PerSource: 100, Total: 100, MaxSources: 100})
	c := netip.MustParseAddr("198.51.100.7")
	for i, want := range []bool{true, true, false} {
		tk, err := r.Admit(c, now, nil)
		if (err == nil) != want {
			t.Fatalf("rate step %d: %v", i, err)
		}
		tk.Done()
	}
	if _, err := r.Admit(c, now.Add(time.Second), nil); err != nil {
		t.Fatalf("a token did not come back after a second: %v", err)
	}
	// Idle sources are forgotten.
	r.Admit(netip.MustParseAddr("198.51.100.8"), now.Add(2*time.Minute), nil)
	if len(r.sources) > 3 {
		t.Fatalf("idle sources were not pruned: %d left", len(r.sources))
	}
	var nl *Limiter
	if tk, err := nl.Admit(c, now, nil); tk != nil || err != nil {
		t.Fatal("a nil Limiter refused")
	}
}

// TestLimiterNetworks: a /64 is one source; wider IPv6 prefixes (/48,
// /32) and IPv4 /24s are capped too, at a multiple of the per-source cap,
// so that many addresses of one network cannot take every connection.
func TestLimiterNetworks(t *testing.T) {
	l := New(Limits{Rate: 1e6, Burst: 1e6, PerSource: 2, Total: 1000, MaxSources: 1000})
	mustAdmit(t, l, "2001:db8:1:1::1", nil)
	mustAdmit(t, l, "2001:db8:1:1::ffff:2", nil)
	refused(t, l, "2001:db8:1:1:abcd::9", ErrSource)
	// Other /64s of the same /48: up to 4x2 in the /48.
	for i := 2; i <= 4; i++ {
		for range 2 {
			mustAdmit(t, l, fmt.Sprintf("2001:db8:1:%x::1", i), nil)
		}
	}
	refused(t, l, "2001:db8:1:99::1", ErrNetwork)
	// Other /48s of the same /32: up to 16x2 in the /32.
	for i := 2; i <= 4; i++ {
		for j := range 4 {
			for range 2 {
				mustAdmit(t, l, fmt.Sprintf("2001:db8:%x:%x::1", i, j), nil)
			}
		}
	}
	refused(t, l, "2001:db8:ff:1::1", ErrNetwork)
	mustAdmit(t, l, "2001:db9::1", nil) // another /32

	// IPv4: the address, then its /24.
	for i := 1; i <= 4; i++ {
		mustAdmit(t, l, fmt.Sprintf("203.0.113.%d", i), nil)
		mustAdmit(t, l, fmt.Sprintf("203.0.113.%d", i), nil)
	}
	refused(t, l, "203.0.113.77", ErrNetwork)
	mustAdmit(t, l, "203.0.114.1", nil)
	// A v4-mapped address is the IPv4 address.
	refused(t, l, "::ffff:203.0.113.5", ErrNetwork)

	// Rates too: 1/s with a burst of 1 per address is 4 per /24.
	r := New(Limits{Rate: 1, Burst: 1, PerSource: 100, Total: 1000, MaxSources: 1000})
	for i := 1; i <= 4; i++ {
		tk := mustAdmit(t, r, fmt.Sprintf("198.51.100.%d", i), nil)
		tk.Done()
	}
	refused(t, r, "198.51.100.5", ErrRate)
}

// TestLimiterEvicts: when every connection is taken, a new one closes the
// oldest that has not finished its request; established connections are
// never evicted.
func TestLimiterEvicts(t *testing.T) {
	l := New(Limits{Rate: 1e6, Burst: 1e6, PerSource: 10, Total: 3, MaxSources: 100})
	var closed []string
	evict := func(name string) func() { return func() { closed = append(closed, name) } }
	first := mustAdmit(t, l, "192.0.2.1", evict("first"))
	mustAdmit(t, l, "192.0.2.2", evict("second"))
	mustAdmit(t, l, "192.0.2.3", evict("third"))
	first.Established()
	mustAdmit(t, l, "192.0.2.4", evict("fourth"))
	if strings.Join(closed, " ") != "second" {
		t.Fatalf("evicted %v, want the oldest pending (second)", closed)
	}
	mustAdmit(t, l, "192.0.2.5", nil)
	if strings.Join(closed, " ") != "second third" {
		t.Fatalf("evicted %v", closed)
	}
	// fourth is pending, first established, the fifth not evictable.
	mustAdmit(t, l, "192.0.2.6", nil)
	refused(t, l, "192.0.2.7", ErrTotal)
	if st := l.Stats(); st.Active != 3 || st.Evicted != 3 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	first.Done()
	mustAdmit(t, l, "192.0.2.7", nil)

	// A trusted source's pending connection goes after the others.
	l = New(Limits{Rate: 1e6, Burst: 1e6, PerSource: 10, Total: 2, MaxSources: 100, TrustFor: time.Minute})
	closed = nil
	l.Trust(netip.MustParseAddr("192.0.2.9"), now)
	mustAdmit(t, l, "192.0.2.9", evict("peer"))
	mustAdmit(t, l, "192.0.2.10", evict("stranger"))
	mustAdmit(t, l, "192.0.2.11", evict("new"))
	if strings.Join(closed, " ") != "stranger" {
		t.Fatalf("evicted %v, want the stranger", closed)
	}
}

// TestLimiterTrust: a trusted source skips its rate and caps until the
// trust runs out; the total still holds.
func TestLimiterTrust(t *testing.T) {
	l := New(Limits{Rate: 1, Burst: 1, PerSource: 1, Total: 5, MaxSources: 100, TrustFor: time.Minute})
	peer := netip.MustParseAddr("192.0.2.1")
	mustAdmit(t, l, "192.0.2.1", nil)
	refused(t, l, "192.0.2.1", ErrSource)
	l.Trust(peer, now)
	for range 4 {
		mustAdmit(t, l, "192.0.2.1", nil)
	}
	refused(t, l, "192.0.2.1", ErrTotal)
	if _, err := l.Admit(peer, now.Add(2*time.Minute), nil); !errors.Is(err, ErrSource) {
		t.Fatalf("after the trust ran out: %v", err)
	}
}

// TestLog: a flood of refusals writes a few lines and a summary.
func TestLog(t *testing.T) {
	var buf bytes.Buffer
	l := NewLog(slog.New(slog.NewTextHandler(&buf, nil)), "test port: connection refused")
	l.timer = time.AfterFunc(time.Hour, func() {}) // the test closes periods by hand
	defer l.timer.Stop()
	logged := 0
	for i := range 300 {
		peer := netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(i%250 + 1)})
		kind := "TLS handshake"
		if i%3 == 0 {
			kind = ErrSource.Error()
		}
		if l.note(peer, kind, now.Add(time.Duration(i)*time.Millisecond)) {
			logged++
		}
	}
	if logged != 2*LogPerKind {
		t.Fatalf("%d lines written as they came, want %d", logged, 2*LogPerKind)
	}
	l.timer = nil
	l.Close()
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 1 {
		t.Fatalf("%d summary lines:\n%s", n, out)
	}
	for _, want := range []string{"not_logged=294", "sources=294", `reasons="TLS handshake=197, too many connections from one source=97"`} {
		if !strings.Contains(out, want) {
			t.Errorf("summary %q lacks %q", out, want)
		}
	}
	// A new period writes again.
	if !l.note(netip.MustParseAddr("127.0.0.1"), "TLS handshake", now.Add(time.Hour)) {
		t.Fatal("a refusal of a new period was held")
	}
}
