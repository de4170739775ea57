package relay

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	// The cleanup closes both ends, and keeps them reachable until the
	// test ends: a conn the test no longer uses is otherwise closed by
	// its finalizer at the next collection, and the relay reads an EOF
	// the test never sent (TestFiltered's node side, 1 run in 5).
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestRelayEndsWhenTheLinkResets: the local node does not read while the
// peer floods it, so the relay is blocked writing to the node; the link
// then resets. The relay must end at once, with or without a ticker on
// the node's side (a ticker once held its lock across that blocked write,
// and the abort waited for it for ever).
func TestRelayEndsWhenTheLinkResets(t *testing.T) {
	for _, withTicker := range []bool{false, true} {
		nodeSide, gwLocal := tcpPair(t)
		gwLink, peerSide := tcpPair(t)
		local := Conn(gwLocal)
		if withTicker {
			local = NewTicker(gwLocal, time.Second, true)
		}
		res := make(chan error, 1)
		go func() { res <- Run(local, Conn(gwLink), NewBufs(), &Stats{}) }()
		go peerSide.Write(make([]byte, 64<<20))
		time.Sleep(300 * time.Millisecond) // the relay is now blocked writing to the node
		peerSide.SetLinger(0)
		peerSide.Close()
		nodeSide.Write([]byte("hello"))
		time.Sleep(50 * time.Millisecond)
		nodeSide.Write([]byte("hello"))
		select {
		case <-res:
		case <-time.After(5 * time.Second):
			nodeSide.Close()
			<-res
			t.Fatalf("ticker=%v: the relay did not end within 5 s of the link's reset", withTicker)
		}
		nodeSide.Close()
	}
}

// TestRelayDeliversEverything: bytes both ways at once, then a half-close
// each way: every byte arrives, in order.
func TestRelayDeliversEverything(t *testing.T) {
	aNode, aGw := tcpPair(t)
	bGw, bNode := tcpPair(t)
	defer aNode.Close()
	defer bNode.Close()
	done := make(chan error, 1)
	var st Stats
	go func() { done <- Run(Conn(aGw), Conn(bGw), NewBufs(), &st) }()
	send := func(c *net.TCPConn, n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i) * seed
		}
		go func() { c.Write(b); c.CloseWrite() }()
		return b
	}
	wantAB, wantBA := send(aNode, 3<<20, 3), send(bNode, 5<<20, 7)
	gotAB, errAB := io.ReadAll(bNode)
	gotBA, errBA := io.ReadAll(aNode)
	if errAB != nil || errBA != nil || !bytes.Equal(gotAB, wantAB) || !bytes.Equal(gotBA, wantBA) {
		t.Fatalf("a->b %d/%d %v, b->a %d/%d %v", len(gotAB), len(wantAB), errAB, len(gotBA), len(wantBA), errBA)
	}
	if err := <-done; err != nil {
		t.Fatalf("relay: %v", err)
	}
	if st.AToB.Load() != int64(len(wantAB)) || st.BToA.Load() != int64(len(wantBA)) {
		t.Fatalf("counted %d and %d bytes", st.AToB.Load(), st.BToA.Load())
	}
}
