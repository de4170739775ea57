package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/handshake"
)

// echoNode is a stand-in for an Erlang node: after the caller's send_name
// it echoes every byte, and at the caller's end of stream it ends too.
func echoNode(t testing.TB, s *gatewaySite, name string) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, ln, s.epmdClient(), name, s.host)
}

// serveEcho serves echo connections on ln, registered as name@host with
// the EPMD c talks to, until the test ends.
func serveEcho(t testing.TB, ln net.Listener, c *epmd.Client, name, host string) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, _, err := handshake.ReadFrame(c, 2, handshake.MaxSendName); err != nil {
					return
				}
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	reg, err := c.RegisterX(context.Background(), epmd.Registration{Name: name, Host: host, Transports: []epmd.Transport{
		{Proto: "inet_tcp", Port: uint16(ln.Addr().(*net.TCPAddr).Port), Family: epmd.FamilyInet, HighVsn: 6, LowVsn: 6},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
}

// TestBridgeThousandRelays opens 1,000 relayed connections at once through
// two gateway processes, each sending a valid send_name and then bulk
// bytes; every byte must come back, checked by SHA-256.
func TestBridgeThousandRelays(t *testing.T) {
	t.Parallel()
	const conns, size = 1000, 64 << 10
	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	a.writeConfig(t, "quic", 10*time.Second, b)
	b.writeConfig(t, "quic", 10*time.Second, a)
	a.start(t)
	b.start(t)
	echoNode(t, b, "echo")
	eps, err := a.epmdClient().Lookup(context.Background(), epmd.LookupRequest{Node: "echo@" + b.host, Accept: []string{"inet_tcp"}})
	if err != nil {
		t.Fatalf("lookup: %v\n%s", err, a.proc.out)
	}
	proxy := net.JoinHostPort(eps[0].Addr.String(), strconv.Itoa(int(eps[0].Port)))

	var ok atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- oneRelay(proxy, fmt.Sprintf("load%d@%s", i, a.host), size)
			ok.Add(1)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed < 5 {
				t.Error(err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d relays failed\nsite A log tail:\n%s", failed, conns, tail(a.proc.out.String(), 2000))
	}
}

// oneRelay connects through a proxy port, sends send_name and size random
// bytes, half-closes, and checks the echo.
func oneRelay(proxy, caller string, size int) error {
	c, err := net.DialTimeout("tcp", proxy, 30*time.Second)
	if err != nil {
		return err
	}
	return relayEcho(c, caller, size, 90*time.Second)
}

// relayEcho sends send_name and size random bytes on a connection to a
// proxy port of an echo node, half-closes, checks that the echo is the
// same bytes in the same order within limit, and closes the connection.
func relayEcho(c net.Conn, caller string, size int, limit time.Duration) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	body := handshake.AppendSendNameV6(nil, handshake.SendName{Name: caller, Flags: 1})
	if _, err := c.Write(append([]byte{byte(len(body) >> 8), byte(len(body))}, body...)); err != nil {
		return fmt.Errorf("%s: send_name: %w", caller, err)
	}
	payload := make([]byte, size)
	rand.Read(payload)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("%s: read after %d bytes: %w", caller, len(got), err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("%s: write: %w", caller, err)
	}
	if len(got) != size || sha256.Sum256(got) != sha256.Sum256(payload) {
		return fmt.Errorf("%s: echo of %d bytes differs from the %d sent", caller, len(got), size)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func lookupReq(node string) epmd.LookupRequest {
	return epmd.LookupRequest{Node: node, Accept: []string{"inet_tcp"}}
}

// openRelay connects to a proxy endpoint and sends a send_name.
func openRelay(eps []epmd.Endpoint, caller string) (net.Conn, error) {
	if len(eps) == 0 {
		return nil, fmt.Errorf("no endpoint")
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(eps[0].Addr.String(), strconv.Itoa(int(eps[0].Port))), 10*time.Second)
	if err != nil {
		return nil, err
	}
	body := handshake.AppendSendNameV6(nil, handshake.SendName{Name: caller, Flags: 1})
	if _, err := c.Write(append([]byte{byte(len(body) >> 8), byte(len(body))}, body...)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// echoRound sends n random bytes and checks they come back.
func echoRound(c net.Conn, n int) error {
	payload := make([]byte, n)
	rand.Read(payload)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	werr := make(chan error, 1)
	go func() { _, err := c.Write(payload); werr <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(payload) {
		return fmt.Errorf("echo differs")
	}
	return nil
}
