package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/link"
)

// stallProxy forwards TCP connections and UDP datagrams to a peer
// gateway's link port until Stall, from when it forwards nothing more
// and reads nothing more, as a stopped peer would, while its kernel still
// acknowledges TCP. Close ends it.
type stallProxy struct {
	tcp     net.Listener
	udp     *net.UDPConn
	target  string
	stalled atomic.Bool
	stall   chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu    sync.Mutex // guards the following
	conns []net.Conn
	udpUp map[string]*net.UDPConn // by client address: the socket towards the target
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{tcp: tcp, udp: udp, target: target, stall: make(chan struct{}), udpUp: map[string]*net.UDPConn{}}
	p.wg.Add(2)
	go p.serveTCP()
	go p.serveUDP()
	t.Cleanup(p.Close)
	return p
}

func (p *stallProxy) tcpAddr() string { return p.tcp.Addr().String() }
func (p *stallProxy) udpAddr() string { return p.udp.LocalAddr().String() }

// Stall stops forwarding, both ways.
func (p *stallProxy) Stall() {
	p.stalled.Store(true)
	p.once.Do(func() { close(p.stall) })
}

func (p *stallProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *stallProxy) serveTCP() {
	defer p.wg.Done()
	for {
		c, err := p.tcp.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp4", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c)
		p.track(up)
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies until the proxy stalls, then holds both ends open.
func (p *stallProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if p.stalled.Load() {
			<-p.stall
			return // held open until Close
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			dst.(*net.TCPConn).CloseWrite()
			return
		}
	}
}

func (p *stallProxy) serveUDP() {
	defer p.wg.Done()
	ta, _ := net.ResolveUDPAddr("udp4", p.target)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if p.stalled.Load() {
			continue
		}
		p.mu.Lock()
		up := p.udpUp[from.String()]
		if up == nil {
			if up, err = net.DialUDP("udp4", nil, ta); err != nil {
				p.mu.Unlock()
				continue
			}
			p.udpUp[from.String()] = up
			p.wg.Add(1)
			go func() { // replies, back to the client
				defer p.wg.Done()
				b := make([]byte, 64<<10)
				for {
					n, err := up.Read(b)
					if err != nil {
						return
					}
					if !p.stalled.Load() {
						p.udp.WriteToUDP(b[:n], from)
					}
				}
			}()
		}
		p.mu.Unlock()
		up.Write(buf[:n])
	}
}

// Close closes everything the proxy holds and waits for it.
func (p *stallProxy) Close() {
	p.Stall()
	p.tcp.Close()
	p.udp.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	for _, c := range p.udpUp {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestLinkPeerStalls: when the path to a peer gateway stalls (nothing
// forwarded, TCP still acknowledged, as with a stopped peer), both
// gateways end the relays of the link within the route's liveness, and
// the dialling side's status shows the link down, over TLS and QUIC.
func TestLinkPeerStalls(t *testing.T) {
	for _, transport := range []string{"tls", "quic"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			const liveness, slack = time.Second, 500 * time.Millisecond
			a, b := prepareSite(t, "site-a"), prepareSite(t, "site-b")
			b.cfg.Peers = []PeerConfig{a.peerOf()}
			b.start(t)
			proxy := newStallProxy(t, b.tls)
			if transport == "quic" {
				proxy = newStallProxy(t, b.quic)
			}
			peer := b.peerOf()
			peer.TLS, peer.QUIC = Addrs{proxy.tcpAddr()}, Addrs{proxy.udpAddr()}
			a.cfg.Peers = []PeerConfig{peer}
			a.cfg.Routes = []RouteConfig{{Match: "*@*.site-b.example", Site: "site-b", Transport: transport, Liveness: Duration(liveness)}}
			a.start(t)
			startFakeNode(t, b, "y")
			c, _, err := dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := echo(c, 1000); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the relay at site B", func() bool { return len(b.gw.Status().Relays) == 1 })

			// What site B sees from the stall on, told if it is late: its
			// links (bytes heard, packets sent) every 100 ms.
			var seenB []string
			stopB, sampled := make(chan struct{}), make(chan struct{})
			stopSampling := sync.OnceFunc(func() { close(stopB); <-sampled })
			defer stopSampling()
			at := time.Now()
			proxy.Stall()
			go func() {
				defer close(sampled)
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					seenB = append(seenB, fmt.Sprintf("%v: %+v", time.Since(at).Round(time.Millisecond), b.gw.Status().Links))
					select {
					case <-stopB:
						return
					case <-tick.C:
					}
				}
			}()
			c.SetReadDeadline(time.Now().Add(liveness + 5*time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil || isDeadline(err) {
				t.Fatalf("the relay at site A outlived a stalled link: %v", err)
			}
			downA := time.Since(at)
			for len(b.gw.Status().Relays) > 0 && time.Since(at) < liveness+5*time.Second {
				time.Sleep(10 * time.Millisecond)
			}
			stopSampling()
			downB := time.Since(at)
			t.Logf("%s: relays ended %v (site A) and %v (site B) after the stall", transport, downA.Round(time.Millisecond), downB.Round(time.Millisecond))
			if downA > liveness+slack || downB > liveness+slack {
				t.Errorf("relays ended %v (site A) and %v (site B) after the stall; liveness %v", downA, downB, liveness)
				t.Logf("site B's relays: %+v", b.gw.Status().Relays)
				t.Logf("site B's links after the stall:\n%s", strings.Join(seenB, "\n"))
				t.Logf("site B's events: %+v", b.gw.events.Since(0, "", 0))
			}
			// The relays' connections are untracked as their goroutines
			// end, a moment after the callers see the close: the status
			// gets a bounded moment to follow.
			linkDown := func() (down string, summary link.Summary, ok bool) {
				for _, l := range a.gw.Status().Links {
					if l.Peer == "site-b" && l.Transport.String() == transport && l.Direction == "out" && l.Down != "" {
						down = l.Down
					}
				}
				ok = down != ""
				for _, p := range a.gw.Status().Peers {
					if p.Peer == "site-b" && p.Transport.String() == transport {
						summary = p
						ok = ok && p.State == link.StateDown
					}
				}
				return down, summary, ok
			}
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if _, _, ok := linkDown(); ok {
					break
				}
			}
			if down, summary, ok := linkDown(); !ok {
				t.Errorf("site A's status does not show the link down within 2s: down %q; links %+v; summary %+v", down, a.gw.Status().Links, summary)
			}
			// Both sides say why: the relays ended and the link went down
			// because the liveness expired (the control stream's, or QUIC's
			// idle timeout), not because a node closed.
			for _, s := range []*site{a, b} {
				told := func() bool {
					var ended, linkDown bool
					for _, e := range s.gw.events.Since(0, "", 0) {
						switch {
						case e.Kind == events.Ended && e.Reason == events.LivenessExpired:
							ended = true
						case e.Kind == events.LinkDown && e.Reason == events.LivenessExpired && e.Transport == transport:
							linkDown = true
						}
					}
					return ended && linkDown
				}
				for deadline := time.Now().Add(5 * time.Second); !told() && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				if !told() {
					t.Errorf("%s's events (want the relay ended and the link down, liveness expired): %+v", s.name, s.gw.events.Since(0, "", 0))
				}
			}
		})
	}
}

// echo writes n bytes to a relayed connection and reads them back.
func echo(c net.Conn, n int) error {
	b := make([]byte, n)
	if _, err := c.Write(b); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	_, err := io.ReadFull(c, b)
	return err
}

func isDeadline(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
