package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readPacket reads one 4-byte framed packet.
func readPacket(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(r, p)
	return p, err
}

// slowLink returns the two ends of a link slower than the nodes' traffic:
// TCP connections joined by a forwarder that moves 16 KiB per millisecond
// at most each way, as a WAN link, on which a relay's writes to the link
// block most of the time under bulk traffic. Their kernel buffers of
// 128 KiB hold little in flight (yet more than a loopback segment of
// 64 KiB, below which TCP sends on its persist timer alone). The
// forwarders end when the test's cleanup closes the connections.
func slowLink(t *testing.T) (a, b *net.TCPConn) {
	a, pa := tcpPair(t)
	pb, b := tcpPair(t)
	for _, c := range []*net.TCPConn{a, pa, pb, b} {
		c.SetReadBuffer(128 << 10)
		c.SetWriteBuffer(128 << 10)
	}
	forward := func(dst, src *net.TCPConn) {
		buf := make([]byte, 16<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, err := dst.Write(buf[:n]); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		dst.CloseWrite()
	}
	go forward(pb, pa)
	go forward(pa, pb)
	return a, b
}

// blockedWriter makes the node write large packets to the relay until a
// write has not returned for a while, then returns: the relay's writer
// is blocked on a peer that reads nothing. The node's writes go on in
// the background until its connection closes.
func blockedWriter(t *testing.T, nodeSide *net.TCPConn) {
	t.Helper()
	var progress atomic.Int64
	go func() {
		big := packet(bytes.Repeat([]byte{'n'}, 64<<10)...)
		for {
			if _, err := nodeSide.Write(big); err != nil {
				return
			}
			progress.Add(1)
		}
	}()
	// Written stops growing once the relay's writer blocks and the
	// kernel's buffers between the node and the relay fill.
	for last, still := int64(-1), 0; still < 20; time.Sleep(10 * time.Millisecond) {
		if n := progress.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
}

// TestFilterRepliesWaitForNoWriter: a filtered relay whose writer is
// blocked on a peer that reads nothing still passes what the peer sends
// on to the node, though some of it asks for replies: the reader queues
// them and goes on. The replies reach the peer, whole, between the
// node's packets, once it reads. (The reader once sent them itself,
// under the writer's lock, and waited behind the blocked writer: nothing
// more reached the node.)
func TestFilterRepliesWaitForNoWriter(t *testing.T) {
	nodeSide, gwLocal := tcpPair(t)
	gwLink, peerSide := tcpPair(t)
	res := make(chan error, 1)
	go func() { res <- Run(Conn(gwLocal), Filtered(Conn(gwLink), &packetFilter{}), NewBufs(), &Stats{}) }()
	defer func() {
		peerSide.Close()
		nodeSide.Close()
		<-res
	}()
	blockedWriter(t, nodeSide)

	if _, err := peerSide.Write(append(packet('x', 1), packet('a', 1)...)); err != nil {
		t.Fatal(err)
	}
	nodeSide.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := readPacket(nodeSide)
	if err != nil {
		t.Fatalf("the node got nothing past a denied packet while the relay's writer is blocked: %v", err)
	}
	if !bytes.Equal(p, []byte{'a', 1}) {
		t.Fatalf("the node got %q", p)
	}
	// The peer reads: its reply comes, whole, between the node's packets.
	peerSide.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		p, err := readPacket(peerSide)
		if err != nil {
			t.Fatalf("the reply never came: %v", err)
		}
		if bytes.Equal(p, []byte{'r'}) {
			break
		}
		if len(p) != 64<<10 {
			t.Fatalf("the peer read a packet of %d bytes that is neither the node's nor a reply", len(p))
		}
	}
}

// TestFilteredBothWays: two gateways filter both ends of a link slower
// than their nodes (each the remote side of its relay), and the nodes
// send each other large packets with, after each, one the other gateway
// denies, while reading everything they get. Every packet and every reply
// arrives: neither relay's reader waits on its writer, so the two relays
// cannot hold each other (each writer blocked on the link the other's
// reader no longer reads, each reader waiting for its writer), as they
// did within a few dozen packets in 8 runs of 8. The relays then ended
// neither with their nodes nor on their own.
func TestFilteredBothWays(t *testing.T) {
	const packets = 600
	x, aLocal := tcpPair(t)
	aLink, bLink := slowLink(t)
	bLocal, y := tcpPair(t)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs <- Run(Conn(aLocal), Filtered(Conn(aLink), &packetFilter{}), NewBufs(), &Stats{})
	}()
	go func() {
		defer wg.Done()
		errs <- Run(Conn(bLocal), Filtered(Conn(bLink), &packetFilter{}), NewBufs(), &Stats{})
	}()
	big := bytes.Repeat([]byte{'n'}, 32<<10)
	node := func(c *net.TCPConn, got chan<- [2]int) {
		go func() {
			for i := range packets {
				if _, err := c.Write(append(packet(big...), packet('x', byte(i))...)); err != nil {
					return
				}
			}
		}()
		var bigs, replies int
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for bigs < packets || replies < packets {
			p, err := readPacket(c)
			if err != nil {
				break
			}
			switch {
			case bytes.Equal(p, []byte{'r'}):
				replies++
			case bytes.Equal(p, big):
				bigs++
			}
		}
		got <- [2]int{bigs, replies}
	}
	gotX, gotY := make(chan [2]int, 1), make(chan [2]int, 1)
	go node(x, gotX)
	go node(y, gotY)
	rx, ry := <-gotX, <-gotY
	x.Close()
	y.Close()
	ok := rx == [2]int{packets, packets} && ry == [2]int{packets, packets}
	if !ok {
		// Held relays end neither with their nodes nor on their own:
		// the link goes too.
		aLink.Close()
		bLink.Close()
	}
	wg.Wait()
	close(errs)
	if !ok {
		t.Fatalf("node x got %d packets and %d replies, node y %d and %d, of %d each within 30 s", rx[0], rx[1], ry[0], ry[1], packets)
	}
	for err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			t.Logf("relay: %v", err)
		}
	}
}

// TestFilterReplyBacklog: a peer that sends requests to deny and reads
// none of the replies, nor anything else, has its relay closed once the
// replies waiting for it pass maxPendingReplies, with a FilterError that
// says so; the reader waits on nothing meanwhile.
func TestFilterReplyBacklog(t *testing.T) {
	nodeSide, gwLocal := tcpPair(t)
	gwLink, peerSide := tcpPair(t)
	res := make(chan error, 1)
	var st Stats
	go func() { res <- Run(Conn(gwLocal), Filtered(Conn(gwLink), &packetFilter{}), NewBufs(), &st) }()
	defer func() {
		peerSide.Close()
		nodeSide.Close()
	}()
	blockedWriter(t, nodeSide)
	go func() {
		var b []byte
		for i := range maxPendingReplies/5 + 1 { // a reply is 5 bytes
			b = append(b, packet('x', byte(i))...)
		}
		peerSide.Write(b)
	}()
	select {
	case err := <-res:
		if !errors.Is(err, ErrReplyBacklog) || !errors.As(err, new(*FilterError)) {
			t.Fatalf("Run = %v, want a FilterError of ErrReplyBacklog", err)
		}
	case <-time.After(10 * time.Second):
		peerSide.Close()
		nodeSide.Close()
		<-res
		t.Fatal("the relay of a peer that reads no replies is still open after 10 s")
	}
	if e := st.End(); e.Side != SideB || !errors.Is(e.Err, ErrReplyBacklog) {
		t.Fatalf("End = %+v", e)
	}
}
