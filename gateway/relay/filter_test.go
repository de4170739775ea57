package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
)

// packetFilter is a Filter over 4-byte framed packets: it drops the
// packets from the remote side whose payload starts with 'x' and answers
// each with the packet "r"; it fails on a packet starting with '!'.
type packetFilter struct {
	in   []byte // what In has not passed yet
	pass []byte
	out  frames // the local node's packets
}

func (f *packetFilter) In(p []byte) (out, replies [][]byte, err error) {
	f.in = append(f.in, p...)
	f.pass = f.pass[:0]
	for len(f.in) >= 4 {
		n := 4 + int(binary.BigEndian.Uint32(f.in))
		if len(f.in) < n {
			break
		}
		switch f.in[4] {
		case 'x':
			replies = append(replies, []byte{0, 0, 0, 1, 'r'})
		case '!':
			return nil, nil, errors.New("bad packet")
		default:
			f.pass = append(f.pass, f.in[:n]...)
		}
		f.in = f.in[n:]
	}
	return [][]byte{f.pass}, replies, nil
}

func (f *packetFilter) Out(p []byte) error { f.out.feed(p); return nil }

func (f *packetFilter) Boundary(p []byte) int { return f.out.boundary(p) }

// frames follows 4-byte framed packets.
type frames struct {
	hdr    []byte
	remain int
}

func (t *frames) feed(p []byte) {
	for len(p) > 0 {
		if t.remain == 0 {
			k := min(4-len(t.hdr), len(p))
			t.hdr, p = append(t.hdr, p[:k]...), p[k:]
			if len(t.hdr) == 4 {
				t.remain, t.hdr = int(binary.BigEndian.Uint32(t.hdr)), t.hdr[:0]
			}
			continue
		}
		k := min(t.remain, len(p))
		t.remain, p = t.remain-k, p[k:]
	}
}

func (t *frames) boundary(p []byte) int {
	switch {
	case len(t.hdr) == 0 && t.remain == 0:
		return 0
	case t.remain > 0 && t.remain <= len(p):
		return t.remain
	}
	return -1
}

func packet(payload ...byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// TestFiltered: what the remote side sends reaches the node filtered; the
// filter's replies reach the remote side whole, between the node's
// packets, however the node's writes cut them; a filter error ends the
// relay with a FilterError.
func TestFiltered(t *testing.T) {
	nodeSide, gwLocal := tcpPair(t)
	gwLink, peerSide := tcpPair(t)
	var st Stats
	res := make(chan error, 1)
	go func() { res <- Run(Conn(gwLocal), Filtered(Conn(gwLink), &packetFilter{}), NewBufs(), &st) }()

	// The node sends large packets in odd pieces while the peer's
	// denied packets ask for replies.
	big := bytes.Repeat([]byte{'n'}, 300<<10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var stream []byte
		for range 8 {
			stream = append(stream, packet(big...)...)
		}
		for p := stream; len(p) > 0; {
			k := min(7777, len(p))
			nodeSide.Write(p[:k])
			p = p[k:]
		}
	}()
	var sent []byte
	for i := range 50 {
		sent = append(sent, packet('a', byte(i))...)
		sent = append(sent, packet('x', byte(i))...)
	}
	peerSide.Write(sent)

	got := make([]byte, 50*6)
	if _, err := io.ReadFull(nodeSide, got); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if !bytes.Equal(got[6*i:6*i+6], packet('a', byte(i))) {
			t.Fatalf("packet %d reached the node as %q", i, got[6*i:6*i+6])
		}
	}
	wg.Wait()
	// Everything reaches the peer: 8 node packets and 50 replies, whole.
	replies, bigs := 0, 0
	for bigs < 8 || replies < 50 {
		var n [4]byte
		if _, err := io.ReadFull(peerSide, n[:]); err != nil {
			t.Fatalf("after %d node packets and %d replies: %v", bigs, replies, err)
		}
		p := make([]byte, binary.BigEndian.Uint32(n[:]))
		if _, err := io.ReadFull(peerSide, p); err != nil {
			t.Fatal(err)
		}
		switch {
		case bytes.Equal(p, []byte{'r'}):
			replies++
		case bytes.Equal(p, big):
			bigs++
		default:
			t.Fatalf("the peer read a packet of %d bytes that is neither", len(p))
		}
	}
	peerSide.Write(packet('!'))
	if err := <-res; !errors.As(err, new(*FilterError)) {
		t.Fatalf("Run = %v, want a FilterError", err)
	}
	if e := st.End(); e.Side != SideB || !errors.As(e.Err, new(*FilterError)) {
		t.Fatalf("End = %+v", e)
	}
}
