package link

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// fakeLoop is a connection's run loop: sleeping the reader lets it
// process perSleep packets.
type fakeLoop struct {
	n, perSleep uint64
	sleeps      int
}

func (f *fakeLoop) sleep(time.Duration) { f.sleeps++; f.n += f.perSleep }

func newTestReader(loop *fakeLoop) *yieldingConn {
	c := &yieldingConn{sleep: loop.sleep}
	c.conns.Store(&[]*trackedConn{})
	return c
}

func TestAwaitRunLoops(t *testing.T) {
	t.Run("room in the queue: no wait", func(t *testing.T) {
		loop := &fakeLoop{}
		c := newTestReader(loop)
		c.trackFunc(func() uint64 { return loop.n })
		c.read = maxQueued
		c.awaitRunLoops()
		if loop.sleeps != 0 {
			t.Fatalf("slept %d times with %d queued", loop.sleeps, maxQueued)
		}
	})
	t.Run("the run loop catches up", func(t *testing.T) {
		loop := &fakeLoop{n: 1000, perSleep: 8}
		c := newTestReader(loop)
		c.trackFunc(func() uint64 { return loop.n }) // counts from 1000
		c.read = maxQueued + 40
		c.awaitRunLoops()
		if loop.sleeps != 5 || c.skew != 0 {
			t.Fatalf("slept %d times (want 5), skew %d (want 0)", loop.sleeps, c.skew)
		}
		if q := c.queued(c.processed()); q != maxQueued {
			t.Fatalf("queued %d after the wait, want %d", q, maxQueued)
		}
	})
	t.Run("nothing processed: drift, counted again from zero", func(t *testing.T) {
		loop := &fakeLoop{}
		c := newTestReader(loop)
		c.trackFunc(func() uint64 { return loop.n })
		c.read = 500
		c.awaitRunLoops()
		if want := int(resyncAfter / waitStep); loop.sleeps != want {
			t.Fatalf("slept %d times, want %d (resyncAfter)", loop.sleeps, want)
		}
		if q := c.queued(c.processed()); q != 0 {
			t.Fatalf("queued %d after the resync, want 0", q)
		}
		c.read += 10
		loop.n += 4
		if q := c.queued(c.processed()); q != 6 {
			t.Fatalf("queued %d, want 6: the count goes on from the resync", q)
		}
	})
	t.Run("an ended connection keeps its count", func(t *testing.T) {
		loop := &fakeLoop{}
		c := newTestReader(loop)
		var a, b atomic.Uint64
		a.Store(7)
		ta := c.trackFunc(a.Load)
		c.trackFunc(b.Load)
		a.Add(100)
		b.Add(50)
		c.untrack(ta)
		a.Add(1000) // after the end: not counted
		if got := c.processed(); got != 150 {
			t.Fatalf("processed %d, want 150", got)
		}
		if n := len(*c.conns.Load()); n != 1 {
			t.Fatalf("%d connections tracked, want 1", n)
		}
	})
}

// TestReadBatchCountsShortHeaders: the reader counts the 1-RTT packets
// it reads (short header: the first bit clear) to connection IDs it
// issued, not the handshakes' (long headers) nor short-header packets to
// a connection ID it did not issue (a stranger's junk, which would make
// it wait for run loops that have nothing to do).
func TestReadBatchCountsShortHeaders(t *testing.T) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	c := newYieldingConn(udp)
	tx, err := net.DialUDP("udp", nil, udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	ours, err := c.cids.GenerateConnectionID()
	if err != nil || ours.Len() != cidLen {
		t.Fatalf("GenerateConnectionID: %v, %v", ours, err)
	}
	forged := make([]byte, cidLen)
	for i := range forged {
		forged[i] = byte(i)
	}
	packets := [][]byte{
		append([]byte{0x40}, ours.Bytes()...),               // counted
		append([]byte{0xc0}, ours.Bytes()...),               // a long header
		append([]byte{0x41}, ours.Bytes()...),               // counted
		append([]byte{0x41}, forged...),                     // not ours
		{0x40, 1, 2, 3},                                     // too short for a connection ID
		append([]byte{0xe0}, forged...),                     // a long header
		append([]byte{0x5f}, append(ours.Bytes(), 9, 9)...), // counted
	}
	for _, p := range packets {
		if _, err := tx.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	ms := make([]ipv4.Message, 8)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	got := 0
	for got < len(packets) {
		n, err := c.ReadBatch(ms, 0)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if c.read != 3 {
		t.Fatalf("counted %d packets of %d, want 3", c.read, len(packets))
	}
}

// TestSealedCIDs: the connection IDs are told apart from others, and do
// not repeat.
func TestSealedCIDs(t *testing.T) {
	a, b := newSealedCIDs(), newSealedCIDs()
	seen := map[string]bool{}
	for range 1000 {
		id, err := a.GenerateConnectionID()
		if err != nil {
			t.Fatal(err)
		}
		if seen[id.String()] {
			t.Fatalf("connection ID %v repeated", id)
		}
		seen[id.String()] = true
		if !a.ours(id.Bytes()) {
			t.Fatalf("%v not recognised by its generator", id)
		}
		if b.ours(id.Bytes()) {
			t.Fatalf("%v recognised by another transport's generator", id)
		}
	}
	junk := make([]byte, cidLen)
	if a.ours(junk) || a.ours(junk[:cidLen-1]) {
		t.Error("zero bytes or a short ID taken for one of ours")
	}
}

// TestReadBatchClosed: a read that fails (n is -1) is returned, not
// counted.
func TestReadBatchClosed(t *testing.T) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := newYieldingConn(udp)
	udp.Close()
	ms := []ipv4.Message{{Buffers: [][]byte{make([]byte, 1500)}}}
	if _, err := c.ReadBatch(ms, 0); err == nil {
		t.Fatal("a read from a closed socket succeeded")
	}
	if c.read != 0 {
		t.Fatalf("counted %d packets", c.read)
	}
}
