package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/linkwire"
)

// registerBulky registers n nodes at s with registrations near the
// largest an EPMD request may be: a NAMES_X reply of about n times 3 KB.
func registerBulky(t *testing.T, s *site, n int) {
	t.Helper()
	for i := range n {
		reg := epmd.Registration{Name: fmt.Sprintf("bulky%d", i), Host: s.hostname}
		for j := range 8 {
			reg.Transports = append(reg.Transports, epmd.Transport{
				Proto: fmt.Sprintf("inet_tcp_%023d", j), Port: uint16(10000 + j), Family: epmd.FamilyInet,
				HighVsn: 6, LowVsn: 6, Extra: bytes.Repeat([]byte{'x'}, 300),
			})
		}
		r, err := s.epmdClient().RegisterX(context.Background(), reg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
	}
}

// namesXQuery opens a query stream's header and request.
func namesXQuery() (hdr, req []byte) {
	return linkwire.Header{Kind: linkwire.KindEPMD}.Append(nil), epmd.AppendFrame(nil, epmd.AppendNamesX(nil))
}

// TestRemoteQueryReplyDeadline: a remote query client over QUIC or a TLS
// link that asks for a large reply and never reads it does not hold the
// gateway's writer for ever: past the query's deadline the stream is
// reset (QUIC) or the connection closed (TLS).
func TestRemoteQueryReplyDeadline(t *testing.T) {
	t.Parallel()
	a, b := twoSites(t, "quic")
	registerBulky(t, b, 2000)
	cert, err := a.gw.certs.GetClientCertificate(nil) // a peer may list b's nodes
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{*cert}, InsecureSkipVerify: true,
		NextProtos: []string{"distgate/1"}, MinVersion: tls.VersionTLS13}
	hdr, req := namesXQuery()
	wait := remoteQueryTimeout + 5*time.Second

	t.Run("quic", func(t *testing.T) {
		t.Parallel()
		// Small receive windows: the reply fills them at once.
		conn, err := quic.DialAddr(t.Context(), b.quic, conf, &quic.Config{
			InitialStreamReceiveWindow: 4 << 10, MaxStreamReceiveWindow: 4 << 10,
			InitialConnectionReceiveWindow: 8 << 10, MaxConnectionReceiveWindow: 8 << 10,
			MaxIdleTimeout: time.Minute, KeepAlivePeriod: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseWithError(0, "")
		s, err := conn.OpenStreamSync(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s.Write(hdr)
		if err := linkwire.ReadReply(s); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s.Write(req)
		// The gateway gives up the stream (STOP_SENDING) at its deadline.
		select {
		case <-s.Context().Done():
			t.Logf("stream given up %v after the request", time.Since(start).Round(time.Millisecond))
		case <-time.After(wait):
			t.Fatalf("the gateway still holds an unread reply %v after the request", wait)
		}
	})
	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		// A full reply, read as it comes.
		full := func() []byte {
			c, err := tls.Dial("tcp", b.tls, conf)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(hdr)
			if err := linkwire.ReadReply(c); err != nil {
				t.Fatal(err)
			}
			c.Write(req)
			out, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}()
		// A small receive buffer, and no read until the deadline is past.
		d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		c, err := tls.DialWithDialer(d, "tcp", b.tls, conf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(hdr)
		if err := linkwire.ReadReply(c); err != nil {
			t.Fatal(err)
		}
		c.Write(req)
		time.Sleep(remoteQueryTimeout + 2*time.Second)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, err := io.ReadAll(c)
		if err == nil && len(got) == len(full) {
			t.Fatalf("the whole reply (%d bytes) waited past the deadline for a client that did not read", len(full))
		}
		t.Logf("after the deadline: %d of %d bytes, then %v", len(got), len(full), err)
	})
}
