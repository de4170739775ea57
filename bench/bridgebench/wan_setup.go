//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/handshake"
)

// The WAN bench's link setup: for each gateway transport, a gateway pair
// that lets a link go one second after its last relay. A connection to
// site-a's proxy port of a node site B does not have makes site-a dial
// the link (a full handshake), and is refused by site-b; once site-a's
// log says the link closed, a second one dials it again, with the
// session ticket of the first (resumed). Each link's handshake comes
// from site-a's log ("link up ... handshake= resumed="): over QUIC the
// connection's handshake; over TLS the control connection's TCP connect
// and TLS handshake. The relay's time, from its send_name to the
// refusal, adds the relay's own round trips (over TLS: the control
// stream, a connection of its own, the header).

// setupIdle is the gateways' proxy.idle in the link setup measurement.
const setupIdle = time.Second

// linkSetup is one transport's link setup, fresh and resumed.
type linkSetup struct {
	transport string
	handshake [2]time.Duration // the link's handshake: fresh, then resumed
	resumed   [2]bool          // whether it resumed a session
	relay     [2]time.Duration // send_name to the peer's refusal
}

func (b *bench) linkSetups(paths []string) []linkSetup {
	var out []linkSetup
	for _, p := range paths {
		var transport string
		switch p {
		case pathDistgateQUIC:
			transport = "quic"
		case pathDistgateTLS:
			transport = "tls"
		default:
			continue
		}
		fmt.Fprintf(b.stdout, "link setup over %s ...\n", transport)
		ls, err := b.linkSetup(transport)
		if err != nil {
			fmt.Fprintf(b.stdout, "link setup over %s failed: %v\n", transport, err)
			continue
		}
		out = append(out, ls)
	}
	return out
}

func (b *bench) linkSetup(transport string) (linkSetup, error) {
	ls := linkSetup{transport: transport}
	a, s, err := gatewayPair(b.ctx, b.o.distgate, b.dir, transport, b.o.gatewayEnv, b.txAt, b.rxAt, setupIdle)
	if err != nil {
		return ls, err
	}
	defer a.stop()
	defer s.stop()
	node := "absent@" + s.host
	for i := range 2 {
		if i == 1 {
			if err := a.waitLog(b.ctx, `msg="link closed"`, 1, 10*time.Second); err != nil {
				return ls, fmt.Errorf("the first link was not let go: %w\n%s", err, tail(a.proc.out.String(), 2000))
			}
		}
		d, err := a.refusedRelay(b.ctx, node)
		if err != nil {
			return ls, fmt.Errorf("relay %d: %w\n%s", i+1, err, tail(a.proc.out.String(), 2000))
		}
		ls.relay[i] = d
	}
	ups := linkHandshakes(a.proc.out.String())
	if len(ups) < 2 {
		return ls, fmt.Errorf("site-a logged %d links dialled, not 2:\n%s", len(ups), tail(a.proc.out.String(), 2000))
	}
	for i := range 2 {
		ls.handshake[i], ls.resumed[i] = ups[i].d, ups[i].resumed
	}
	return ls, nil
}

// waitLog waits until the gateway's log has n lines containing s.
func (s *site) waitLog(ctx context.Context, sub string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for strings.Count(s.proc.out.String(), sub) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s in %v", sub, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// refusedRelay looks node up at the site's EPMD, connects to its proxy
// port, sends a send_name and waits for the gateway to close the
// connection (the peer has no such node); it returns the time from the
// send_name to the close.
func (s *site) refusedRelay(ctx context.Context, node string) (time.Duration, error) {
	cl := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(s.epmdPort), Timeout: 5 * time.Second,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return s.at.dial(ctx, addr) }}
	eps, err := cl.Lookup(ctx, epmd.LookupRequest{Node: node, Accept: []string{"inet_tcp"}})
	if err != nil || len(eps) == 0 {
		return 0, fmt.Errorf("lookup %s: %v %v", node, eps, err)
	}
	c, err := s.at.dial(ctx, net.JoinHostPort(eps[0].Addr.String(), strconv.Itoa(int(eps[0].Port))))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	body := handshake.AppendSendNameV6(nil, handshake.SendName{Name: "setup@" + s.host, Flags: 1})
	t0 := time.Now()
	if _, err := c.Write(append([]byte{byte(len(body) >> 8), byte(len(body))}, body...)); err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return 0, fmt.Errorf("waiting for the refusal: %w", err)
	}
	return time.Since(t0), nil
}

// printSetups prints the link setups of a scenario.
func printSetups(w io.Writer, sc scenario, ls []linkSetup) {
	if len(ls) == 0 {
		return
	}
	fmt.Fprintf(w, "link setup (site-a dials; the second link after the first was let go, its session ticket kept):\n")
	rtts := func(d time.Duration) float64 { return float64(d) / float64(sc.rtt()) }
	for _, l := range ls {
		for i, what := range []string{"first", "second"} {
			fmt.Fprintf(w, "  %s %s link: handshake %.0f ms, %.2f round trips (resumed: %v); a relay to the peer's refusal %.0f ms, %.2f round trips\n",
				l.transport, what, ms(l.handshake[i]), rtts(l.handshake[i]), l.resumed[i], ms(l.relay[i]), rtts(l.relay[i]))
		}
	}
}

// linkHandshake is a link a gateway dialled, from its log.
type linkHandshakeLine struct {
	d       time.Duration
	resumed bool
}

// linkHandshakes finds every link a gateway dialled in its log, in order.
func linkHandshakes(log string) []linkHandshakeLine {
	var out []linkHandshakeLine
	for _, m := range linkUp.FindAllStringSubmatch(log, -1) {
		d, _ := time.ParseDuration(m[1])
		out = append(out, linkHandshakeLine{d: d, resumed: m[2] == "true"})
	}
	return out
}
