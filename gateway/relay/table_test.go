package relay

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/distgate/distgate/gateway/events"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	started, ended []*Info
	refused        []*Refusal
}

func (r *recorder) Started(ri *Info)    { r.started = append(r.started, ri) }
func (r *recorder) Ended(ri *Info)      { r.ended = append(r.ended, ri) }
func (r *recorder) Refused(rf *Refusal) { r.refused = append(r.refused, rf) }

// linkReset is how the link layer classifies in this test.
func linkReset(err error) (events.Reason, bool) {
	if errors.Is(err, syscall.ECONNRESET) {
		return events.LinkLost, true
	}
	return "", false
}

// TestTableReasons: a relay's end reason follows from the side that ended
// it first, the relay's direction, and the link layer's word on errors of
// the link's side.
func TestTableReasons(t *testing.T) {
	reset := &net.OpError{Op: "read", Err: syscall.ECONNRESET}
	for _, c := range []struct {
		name string
		d    Direction
		link string
		end  End
		want events.Reason
	}{
		{"out: the local caller closes", Out, "quic", End{Side: SideA}, events.CallerClosed},
		{"out: the far target closes", Out, "quic", End{Side: SideB}, events.TargetClosed},
		{"in: the local target closes", In, "tls", End{Side: SideA}, events.TargetClosed},
		{"in: the far caller closes", In, "tls", End{Side: SideB}, events.CallerClosed},
		{"out: the link resets", Out, "tls", End{Side: SideB, Err: reset}, events.LinkLost},
		{"in: the link resets", In, "quic", End{Side: SideB, Err: reset}, events.LinkLost},
		{"the local node resets: not the link", Out, "quic", End{Side: SideA, Err: reset}, events.CallerClosed},
		{"a TLS caller resets: no link", In, "", End{Side: SideB, Err: reset}, events.CallerClosed},
		{"an error the link layer does not know", Out, "quic", End{Side: SideB, Err: errors.New("odd")}, events.TargetClosed},
	} {
		rec := &recorder{}
		tab := NewTable(rec, linkReset)
		ri := tab.Add("x@a", "y@b", "site-b", "quic", c.d, c.link)
		if tab.Len() != 1 || len(rec.started) != 1 {
			t.Fatalf("%s: not listed", c.name)
		}
		ri.Stats.ended(c.end.Side, c.end.Err)
		ri.Stats.ended(SideA+SideB-c.end.Side, errors.New("second: ignored"))
		tab.Remove(ri)
		if tab.Len() != 0 || len(rec.ended) != 1 {
			t.Fatalf("%s: not removed", c.name)
		}
		if ri.Reason != c.want {
			t.Errorf("%s: reason %q, want %q", c.name, ri.Reason, c.want)
		}
		if c.end.Err != nil && ri.Detail != c.end.Err.Error() {
			t.Errorf("%s: detail %q", c.name, ri.Detail)
		}
	}
	rec := &recorder{}
	tab := NewTable(rec, linkReset)
	ri := tab.Add("x@a", "y@b", "site-b", "quic", Out, "quic")
	ri.Stats.ended(SideB, &net.OpError{Op: "read", Err: syscall.ECONNRESET})
	tab.Closing()
	tab.Remove(ri)
	if ri.Reason != events.GatewayShutdown {
		t.Fatalf("after Closing: %q", ri.Reason)
	}
	tab.Refused(Refusal{Caller: "x@a", Target: "y@b", Reason: events.PolicyDenied})
	if len(rec.refused) != 1 || rec.refused[0].Reason != events.PolicyDenied {
		t.Fatalf("refusal: %+v", rec.refused)
	}
}

// TestRunNotesTheFirstEnd: Run notes which side ended a relay first, and
// the bytes each way are the caller's and the target's by direction.
func TestRunNotesTheFirstEnd(t *testing.T) {
	nodeSide, a := tcpPair(t)
	b, farSide := tcpPair(t)
	ri := &Info{Direction: Out}
	done := make(chan error, 1)
	go func() { done <- Run(Conn(a), Conn(b), NewBufs(), &ri.Stats) }()
	nodeSide.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := farSide.Read(buf); err != nil {
		t.Fatal(err)
	}
	farSide.Write([]byte("hi"))
	nodeSide.Read(buf[:2])
	nodeSide.CloseWrite() // the caller closes first
	farSide.Read(buf)     // EOF passed on
	farSide.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	nodeSide.Close()
	if e := ri.Stats.End(); e.Side != SideA || e.Err != nil {
		t.Fatalf("end %+v, want side a, clean", e)
	}
	if ri.BytesToTarget() != 5 || ri.BytesToCaller() != 2 {
		t.Fatalf("bytes to target %d, to caller %d", ri.BytesToTarget(), ri.BytesToCaller())
	}
}
