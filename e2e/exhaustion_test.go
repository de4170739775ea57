package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/epmd"
)

// metric reads one unlabelled value of the gateway's /metrics.
func (s *gatewaySite) metric(t testing.TB, name string) float64 {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(s.dir, "data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+s.admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// fds counts the gateway process's open descriptors.
func (s *gatewaySite) fds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.proc.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// aliasAddr is the i-th loopback address of a flood: 127.<b>.<i/100>.<i%100+1>,
// a hundred sources in each /24.
func aliasAddr(b byte, i int) net.IP {
	return net4(127, b, byte(i/100), byte(i%100+1))
}

func net4(a, b, c, d byte) net.IP { return net.IPv4(a, b, c, d).To4() }

// tcpFlood opens n TCP connections to addr, each from a loopback address
// of its own, that write first (nil: nothing) and then stay silent. The
// test's cleanup closes them.
func tcpFlood(t testing.TB, addr string, n int, netByte byte, first []byte) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for i := range n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d connections in a minute", i, n)
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: aliasAddr(netByte, i)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			t.Fatalf("connection %d from %s: %v", i, aliasAddr(netByte, i), err)
		}
		if first != nil {
			c.Write(first)
		}
		conns = append(conns, c)
	}
}

// firstPacketOnly is a UDP socket for a QUIC client that sends its first
// datagram and then nothing, and never hears back: a handshake that
// starts and goes silent.
type firstPacketOnly struct {
	udp    *net.UDPConn // not embedded: quic-go would use its ReadMsgUDP and WriteMsgUDP
	once   sync.Once
	closed chan struct{}
}

func (c *firstPacketOnly) LocalAddr() net.Addr                { return c.udp.LocalAddr() }
func (c *firstPacketOnly) SetDeadline(t time.Time) error      { return nil }
func (c *firstPacketOnly) SetReadDeadline(t time.Time) error  { return nil }
func (c *firstPacketOnly) SetWriteDeadline(t time.Time) error { return nil }

func (c *firstPacketOnly) WriteTo(b []byte, a net.Addr) (int, error) {
	c.once.Do(func() { c.udp.WriteTo(b, a) })
	return len(b), nil
}

func (c *firstPacketOnly) ReadFrom([]byte) (int, net.Addr, error) {
	<-c.closed
	return 0, nil, net.ErrClosed
}

func (c *firstPacketOnly) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return c.udp.Close()
}

// quicFlood starts n QUIC handshakes to addr, each from a loopback
// address of its own, that send their first packet and go silent. It
// returns once every client gave up (after a second).
func quicFlood(t testing.TB, addr string, n int, netByte byte) {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: aliasAddr(netByte, i)})
		if err != nil {
			t.Fatal(err)
		}
		pc := &firstPacketOnly{udp: udp, closed: make(chan struct{})}
		tr := &quic.Transport{Conn: pc}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tr.Close()
			defer pc.Close() // first: the transport waits for its reader
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			tr.Dial(ctx, ua, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"distgate/1"}}, &quic.Config{})
		}()
	}
	wg.Wait()
}

// countLines counts the lines of log that contain s.
func countLines(log, s string) int {
	n := 0
	for l := range strings.Lines(log) {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// TestEdgeListenersBounded: the link port (TLS and QUIC) and the remote
// query port take a bounded number of connections that never finish
// their handshake, whatever their number and sources (1,000 each, from
// 1,000 loopback addresses): the gateway's descriptors and goroutines
// stay bounded, and a peer gateway and a query client still get through.
// Garbage (300 connections to each TLS listener) writes a few log lines
// and a summary, not a line each.
func TestEdgeListenersBounded(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	ca := newTestCA(t, "clients")
	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	remote := "127.0.0.1:" + strconv.Itoa(freePort(t))
	b.extra = fmt.Sprintf("remote:\n  listen: %q\n  client_ca: %q\n  allow:\n    - {identity: ops, nodes: [\"*\"], list: true}\n", remote, ca.File)
	a.writeConfig(t, "tls", 10*time.Second, b)
	b.writeConfig(t, "tls", 10*time.Second, a)
	a.start(t)
	b.start(t)
	echoNode(t, b, "echo")
	opsCert, opsKey := ca.issue(t, "ops", time.Now().Add(time.Hour))
	gwCA := filepath.Join(b.dir, "data", "identity.crt")
	query := func(quic bool) error {
		addr := remote
		args := []string{"names", "-ca", gwCA, "-server-name", "site-b", "-cert", opsCert, "-key", opsKey}
		if quic {
			addr, args = b.link, append(args, "-quic")
		}
		out, errOut, code := runCmd(t, nil, distgateBin(t), append(args, "-remote", addr)...)
		if code != 0 || !strings.Contains(out, "echo") {
			return fmt.Errorf("names over %s: exit %d: %s%s", addr, code, out, errOut)
		}
		return nil
	}
	relay := func() error {
		eps, err := a.epmdClient().Lookup(t.Context(), lookupReq("echo@"+b.host))
		if err != nil {
			return err
		}
		c, err := openRelay(eps, "x@"+a.host)
		if err != nil {
			return err
		}
		defer c.Close()
		return echoRound(c, 4096)
	}
	if err := query(false); err != nil {
		t.Fatal(err)
	}
	fds0, gr0 := b.fds(t), b.metric(t, "go_goroutines")

	// 1,000 silent connections to each TLS listener.
	const flood = 1000
	tcpFlood(t, b.link, flood, 10, nil)
	tcpFlood(t, remote, flood, 11, nil)
	fds, gr := b.fds(t), b.metric(t, "go_goroutines")
	t.Logf("after %d silent connections to each TLS listener: %d descriptors (+%d), %v goroutines (+%v)", flood, fds, fds-fds0, gr, gr-gr0)
	// Each listener holds at most 256 handshakes (gateway.edgeTotal).
	if fds-fds0 > 2*256+100 || gr-gr0 > 2*256+100 {
		t.Errorf("%d silent connections to each TLS listener took %d descriptors and %v goroutines", flood, fds-fds0, gr-gr0)
	}
	if err := relay(); err != nil {
		t.Errorf("a relay over TLS during the flood: %v", err)
	}
	if err := query(false); err != nil {
		t.Errorf("a query client during the flood: %v", err)
	}

	// 1,000 QUIC handshakes that go silent after their first packet.
	gr0 = b.metric(t, "go_goroutines")
	start := time.Now()
	quicFlood(t, b.link, flood, 12)
	gr = b.metric(t, "go_goroutines")
	t.Logf("after %d silent QUIC handshakes (%v): %v goroutines (+%v)", flood, time.Since(start).Round(time.Millisecond), gr, gr-gr0)
	if gr-gr0 > 500 {
		t.Errorf("%d silent QUIC handshakes took %v goroutines", flood, gr-gr0)
	}
	if err := query(true); err != nil {
		t.Errorf("a query client over QUIC during the flood: %v", err)
	}

	// Garbage: 300 connections to each TLS listener that are not TLS.
	const garbage = 300
	tcpFlood(t, b.link, garbage, 20, []byte("GET / HTTP/1.0\r\n\r\n"))
	tcpFlood(t, remote, garbage, 21, []byte("GET / HTTP/1.0\r\n\r\n"))
	time.Sleep(500 * time.Millisecond) // their handshakes fail
	log := b.proc.out.String()
	if n := countLines(log, "127.20.") + countLines(log, "127.21."); n > 30 {
		t.Errorf("%d garbage connections wrote %d log lines", 2*garbage, n)
	}
	// The refusals not written are summarized.
	waitUntil(t, "a summary of the refusals", 15, func() bool {
		log := b.proc.out.String()
		return strings.Contains(log, "link port: connection refused (summary)") &&
			strings.Contains(log, "remote query port: connection refused (summary)")
	})
	if err := relay(); err != nil {
		t.Errorf("a relay over TLS after the floods: %v", err)
	}
	if t.Failed() {
		t.Logf("site-b log tail:\n%s", tail(b.proc.out.String(), 4000))
	}
}

// TestPublicEdgeBudgets: the public EPMD and the TLS termination ports
// have budgets of their own, and when one is full a new connection closes
// the oldest that has not sent its request. 130 addresses holding 16
// half-sent requests each (past the 2,048 of a budget) lock neither: a lookup
// and a TLS caller still get through, during a flood of either.
func TestPublicEdgeBudgets(t *testing.T) {
	t.Parallel()
	s := newGatewaySite(t, "edge")
	s.host = "localhost"
	public := freePort(t)
	writeFile(t, s.config, fmt.Sprintf(`site: edge
data_dir: %s
epmd: {listen: "127.0.0.1:%d"}
admin: {listen: %q}
links: {off: true, names: [localhost]}
public:
  epmd: "127.0.0.1:%d"
  export: ["web*"]
  rate: 100
  burst: 100
`, filepath.Join(s.dir, "data"), s.epmdPort, s.admin, public))
	s.start(t)
	echoNode(t, s, "web1")
	client := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(public), Timeout: 3 * time.Second}
	lookup := func() (int, error) {
		p, err := client.PortPlease(t.Context(), "web1")
		if err != nil {
			return 0, err
		}
		if p == nil {
			return 0, fmt.Errorf("web1 not found")
		}
		return int(p.Port), nil
	}
	tlsPort, err := lookup()
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := "127.0.0.1:" + strconv.Itoa(tlsPort)
	handshake := func() error {
		d := &net.Dialer{Timeout: 3 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		if err != nil {
			return err
		}
		return c.Close()
	}
	// 130 addresses, each in a /24 of its own, 16 connections each that
	// send the first byte of a request and nothing more.
	flood := func(addr string, netByte byte) {
		t.Helper()
		conns := make([]net.Conn, 0, 130*16)
		t.Cleanup(func() {
			for _, c := range conns {
				c.Close()
			}
		})
		for i := range 130 {
			for range 16 {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net4(127, netByte, byte(i), 1)}, Timeout: 5 * time.Second}
				c, err := d.Dial("tcp4", addr)
				if err != nil {
					t.Fatalf("flood connection from %d: %v", i, err)
				}
				c.Write([]byte{0})
				conns = append(conns, c)
			}
		}
	}
	check := func(when string) {
		t.Helper()
		if _, err := lookup(); err != nil {
			t.Errorf("%s: a lookup on the public EPMD: %v", when, err)
		}
		if err := handshake(); err != nil {
			t.Errorf("%s: a TLS caller: %v", when, err)
		}
	}
	flood("127.0.0.1:"+strconv.Itoa(public), 30)
	check("130 addresses x 16 half-sent requests to the public EPMD")
	flood(tlsAddr, 31)
	check("and as many to the TLS port")
	if t.Failed() {
		t.Logf("gateway log tail:\n%s", tail(s.proc.out.String(), 3000))
	}
}
