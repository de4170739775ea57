//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
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
// from site-a's log ("link up ... handshake= resumed= ... syn_data="):
// over QUIC the connection's handshake; over TLS the control
// connection's TCP connect and TLS handshake, and whether its SYN carried
// the ClientHello, acknowledged by site-b (TCP Fast Open: the bench's
// namespaces allow it, net.ipv4.tcp_fastopen=3). The relay's time, from its send_name to the
// refusal, adds the relay's own round trips (over TLS: the control
// stream, a connection of its own, the header).

// setupIdle is the gateways' proxy.idle in the link setup measurement;
// setupResumed is how many resumed links it times (a loaded machine's
// scheduling is in every figure: the median is printed).
const (
	setupIdle    = time.Second
	setupResumed = 5
)

// linkSetup is one transport's link setup: the first link, then
// setupResumed resumed ones.
type linkSetup struct {
	transport string
	handshake []time.Duration // the link's handshake, the first link's first
	resumed   []bool          // whether it resumed a session
	synData   []bool          // over TLS: whether its SYN carried the ClientHello
	relay     []time.Duration // send_name to the peer's refusal
}

// median of the resumed links' figures (all but the first).
func medianResumed(ds []time.Duration) time.Duration {
	if len(ds) < 2 {
		return 0
	}
	r := slices.Clone(ds[1:])
	slices.Sort(r)
	return r[len(r)/2]
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
	a, s, err := gatewayPair(b.ctx, b.o.distgate, b.dir, transport, b.o.gatewayEnv, b.txAt, b.rxAt, setupIdle, "")
	if err != nil {
		return ls, err
	}
	defer a.stop()
	defer s.stop()
	node := "absent@" + s.host
	for i := range 1 + setupResumed {
		if i > 0 {
			if err := a.waitLog(b.ctx, i, 10*time.Second, `msg="link closed"`, "direction=out"); err != nil {
				return ls, fmt.Errorf("link %d was not let go: %w\n%s", i, err, tail(a.proc.Out.String(), 2000))
			}
		}
		d, err := a.refusedRelay(b.ctx, node)
		if err != nil {
			return ls, fmt.Errorf("relay %d: %w\n%s", i+1, err, tail(a.proc.Out.String(), 2000))
		}
		ls.relay = append(ls.relay, d)
	}
	ups := linkHandshakes(a.proc.Out.String())
	if len(ups) != 1+setupResumed {
		return ls, fmt.Errorf("site-a logged %d links dialled, not %d:\n%s", len(ups), 1+setupResumed, tail(a.proc.Out.String(), 2000))
	}
	for _, u := range ups {
		ls.handshake, ls.resumed, ls.synData = append(ls.handshake, u.d), append(ls.resumed, u.resumed), append(ls.synData, u.synData)
	}
	return ls, nil
}

// waitLog waits until the gateway's log has n lines containing each of
// subs.
func (s *site) waitLog(ctx context.Context, n int, limit time.Duration, subs ...string) error {
	deadline := time.Now().Add(limit)
	count := func() int {
		c := 0
	lines:
		for l := range strings.Lines(s.proc.Out.String()) {
			for _, sub := range subs {
				if !strings.Contains(l, sub) {
					continue lines
				}
			}
			c++
		}
		return c
	}
	for count() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("no %d lines with %q in %v", n, subs, limit)
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
	fmt.Fprintf(w, "link setup (site-a dials; then, each after the last was let go, %d links resuming its session; their median):\n", setupResumed)
	rtts := func(d time.Duration) float64 { return float64(d) / float64(sc.rtt()) }
	for _, l := range ls {
		resumed := 0
		for _, r := range l.resumed[1:] {
			if r {
				resumed++
			}
		}
		fmt.Fprintf(w, "  %s first link: handshake %.0f ms, %.2f round trips (resumed: %v); a relay to the peer's refusal %.0f ms, %.2f round trips\n",
			l.transport, ms(l.handshake[0]), rtts(l.handshake[0]), l.resumed[0], ms(l.relay[0]), rtts(l.relay[0]))
		h, r := medianResumed(l.handshake), medianResumed(l.relay)
		fmt.Fprintf(w, "  %s next links: handshake %.0f ms, %.2f round trips (%d of %d resumed; all: %v); a relay to the peer's refusal %.0f ms, %.2f round trips\n",
			l.transport, ms(h), rtts(h), resumed, len(l.resumed)-1, roundedMS(l.handshake[1:]), ms(r), rtts(r))
		if l.transport == "tls" {
			fmt.Fprintf(w, "  %s next links: %d of %d carried the ClientHello in the SYN, acknowledged (TCP Fast Open; the first link: %v)\n",
				l.transport, synDataCount(l.synData[1:]), len(l.synData)-1, l.synData[0])
		}
	}
}

// roundedMS lists durations in whole milliseconds.
func roundedMS(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// synDataCount counts the links whose SYN carried data.
func synDataCount(syn []bool) int {
	n := 0
	for _, s := range syn {
		if s {
			n++
		}
	}
	return n
}

// linkHandshakeLine is a link a gateway dialled, from its log.
type linkHandshakeLine struct {
	d       time.Duration
	resumed bool
	synData bool // over TLS, its SYN carried the ClientHello
}

// linkHandshakes finds every link a gateway dialled in its log, in order.
func linkHandshakes(log string) []linkHandshakeLine {
	var out []linkHandshakeLine
	for _, m := range linkUp.FindAllStringSubmatch(log, -1) {
		d, _ := time.ParseDuration(m[1])
		out = append(out, linkHandshakeLine{d: d, resumed: m[2] == "true", synData: m[3] == "true"})
	}
	return out
}
