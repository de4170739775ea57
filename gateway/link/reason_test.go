package link

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/linkwire"
)

func TestEndReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want events.Reason
		ok   bool
	}{
		{&quic.IdleTimeoutError{}, events.LivenessExpired, true},
		{fmt.Errorf("link down: %w", fmt.Errorf("%w for 3s", errSilent)), events.LivenessExpired, true},              // a TLS link's control connection
		{&quic.ApplicationError{ErrorCode: codeSilent, ErrorMessage: "nothing heard"}, events.LivenessExpired, true}, // a QUIC link's control stream, here
		{&quic.ApplicationError{Remote: true, ErrorCode: codeSilent}, events.LivenessExpired, true},                  // or at the peer
		{fmt.Errorf("read: %w", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}), events.LivenessExpired, true},
		{&quic.ApplicationError{Remote: true, ErrorCode: 0, ErrorMessage: "gateway shutting down"}, events.LinkLost, true},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, events.LinkLost, true},
		{errClosedWithoutNotify, events.LinkLost, true},
		{&quic.StreamError{Remote: true, ErrorCode: 1}, "", false}, // the peer's relay aborted: its far side
		{io.EOF, "", false},
		{errors.New("odd"), "", false},
		{nil, "", false},
	} {
		got, ok := EndReason(c.err)
		if got != c.want || ok != c.ok {
			t.Errorf("EndReason(%v) = %q, %v; want %q, %v", c.err, got, ok, c.want, c.ok)
		}
	}
	for s, want := range map[linkwire.Status]events.Reason{
		linkwire.StatusDenied: events.PolicyDenied, linkwire.StatusNotFound: events.TargetUnknown,
		linkwire.StatusUnreachable: events.TargetUnreachable, linkwire.StatusBadRequest: events.PeerRefused,
	} {
		if got := RefusalReason(fmt.Errorf("open: %w", &linkwire.Error{Status: s})); got != want {
			t.Errorf("refusal %v: %q, want %q", s, got, want)
		}
	}
	if got := RefusalReason(errors.New("dial: connection refused")); got != events.NoLink {
		t.Errorf("a failed dial: %q", got)
	}
}

// TestLinkConnCountsAndFailure: a TLS link's socket counts bytes each
// way, and an end without a TLS close is its failure; its own close is
// not.
func TestLinkConnCountsAndFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("hello"))
		io.CopyN(io.Discard, c, 3)
		c.Close()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	lc := newLinkConn(raw.(*net.TCPConn), newLinkBufs())
	defer lc.Close()
	lc.Write([]byte("abc"))
	buf := make([]byte, 16)
	n, _ := io.ReadFull(lc, buf[:5])
	if n != 5 || lc.Failure() != nil {
		t.Fatalf("read %d, failure %v", n, lc.Failure())
	}
	if _, err := lc.Read(buf); err != io.EOF {
		t.Fatalf("after the peer closed: %v", err)
	}
	if lc.in.Load() != 5 || lc.out.Load() != 3 {
		t.Fatalf("counted %d in, %d out", lc.in.Load(), lc.out.Load())
	}
	if r, ok := EndReason(lc.Failure()); !ok || r != events.LinkLost {
		t.Fatalf("failure %v: %q", lc.Failure(), r)
	}
	lc.Close()
	lc.Read(buf) // our own close is not a failure
	if !errors.Is(lc.Failure(), io.ErrUnexpectedEOF) {
		t.Fatalf("failure after our close: %v", lc.Failure())
	}
}

// TestLinkConnKilled: a TLS link socket closed because its link died
// (its control connection heard nothing) reads and writes why, and a
// deadline before that was not its failure.
func TestLinkConnKilled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	lc := newLinkConn(raw.(*net.TCPConn), newLinkBufs())
	lc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := lc.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	if lc.Failure() != nil {
		t.Fatalf("a deadline taken for a failure: %v", lc.Failure())
	}
	lc.SetReadDeadline(time.Time{})
	why := fmt.Errorf("link down: %w", errSilent)
	done := make(chan error, 1)
	go func() {
		_, err := lc.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	lc.kill(why)
	if err := <-done; !errors.Is(err, errSilent) {
		t.Fatalf("a blocked read after kill: %v", err)
	}
	if _, err := lc.Write([]byte("x")); !errors.Is(err, errSilent) {
		t.Fatalf("a write after kill: %v", err)
	}
	if r, ok := EndReason(lc.Failure()); !ok || r != events.LivenessExpired {
		t.Fatalf("failure %v: %q", lc.Failure(), r)
	}
}
