package handshake

import (
	"testing"
)

func frame2(body string) []byte {
	return append([]byte{byte(len(body) >> 8), byte(len(body))}, body...)
}
func frame4(body string) []byte {
	n := len(body)
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

func TestTrackerDialled(t *testing.T) {
	// What a dialling node receives: status, challenge, ack, then data.
	var stream []byte
	stream = append(stream, frame2("sok")...)
	stream = append(stream, frame2("N12345678creationname")...)
	stream = append(stream, frame2("a0123456789abcdef")...)
	boundaryAfterAck := len(stream)
	stream = append(stream, frame4("data one")...)
	stream = append(stream, frame4("")...) // a tick from the remote
	stream = append(stream, frame4("data two")...)
	ends := map[int]bool{boundaryAfterAck: true, boundaryAfterAck + 12: true, boundaryAfterAck + 16: true, len(stream): true}

	// Byte by byte, then in one piece: the same answers.
	tr := NewTracker(true)
	for i := range stream {
		if tr.CanTick() != ends[i] {
			t.Fatalf("at byte %d: CanTick = %v, want %v", i, tr.CanTick(), ends[i])
		}
		tr.Feed(stream[i : i+1])
	}
	if !tr.CanTick() {
		t.Fatal("not at a boundary at the end")
	}
	tr = NewTracker(true)
	tr.Feed(stream[:boundaryAfterAck+5])
	if tr.CanTick() {
		t.Fatal("CanTick inside a data message")
	}
	tr.Feed(stream[boundaryAfterAck+5:])
	if !tr.CanTick() {
		t.Fatal("not at a boundary after feeding everything")
	}
}

func TestTrackerAccepted(t *testing.T) {
	// What an accepting node receives: send_name, (status), reply.
	tr := NewTracker(false)
	tr.Feed(frame2("N00000000cccc\x00\x03x@y"))
	if tr.CanTick() {
		t.Fatal("CanTick during the handshake")
	}
	tr.Feed(frame2("r0123digest0123456789"))
	if !tr.CanTick() {
		t.Fatal("no tick after the challenge reply")
	}
	tr.Feed(frame4("x"))
	if !tr.CanTick() {
		t.Fatal("no tick after a data message")
	}
}

func TestTrackerBroken(t *testing.T) {
	tr := NewTracker(true)
	tr.Feed([]byte{0, 0}) // an empty handshake message: not distribution
	tr.Feed(frame4("whatever"))
	if tr.CanTick() {
		t.Fatal("CanTick on a stream it does not understand")
	}
}

func FuzzTracker(f *testing.F) {
	f.Add(append(frame2("sok"), frame2("a0123")...), 3)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		whole, split := NewTracker(true), NewTracker(true)
		whole.Feed(b)
		if cut < 0 {
			cut = -cut
		}
		if len(b) > 0 {
			cut %= len(b)
		} else {
			cut = 0
		}
		split.Feed(b[:cut])
		split.Feed(b[cut:])
		if whole.CanTick() != split.CanTick() || whole.state != split.state || whole.remain != split.remain {
			t.Fatalf("feeding in two pieces differs: %+v vs %+v", whole, split)
		}
	})
}
