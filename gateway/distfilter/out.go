package distfilter

import "encoding/binary"

// frameTracker follows the packets of the bytes the local node sends, once
// their handshake is over, to find where a packet may be inserted.
type frameTracker struct {
	hdr    [4]byte
	hdrN   int // bytes of the current packet's length seen
	remain int // bytes of the current packet still to come
}

// Out follows bytes the local node sends to the remote side, before they
// are written: their handshake (the local node's name and flags) and,
// after it, their packets. Call it from one goroutine at a time, and
// Boundary from the same.
func (c *Conn) Out(p []byte) error {
	c.mu.Lock()
	if !c.hsOut.done {
		n, err := c.hsOut.feed(p)
		c.mu.Unlock()
		if err != nil {
			return err
		}
		p = p[n:]
	} else {
		c.mu.Unlock()
	}
	t := &c.track
	for len(p) > 0 {
		if t.remain == 0 {
			k := copy(t.hdr[t.hdrN:], p)
			t.hdrN += k
			p = p[k:]
			if t.hdrN == 4 {
				t.hdrN = 0
				t.remain = int(binary.BigEndian.Uint32(t.hdr[:]))
			}
			continue
		}
		k := min(t.remain, len(p))
		t.remain -= k
		p = p[k:]
	}
	return nil
}

// Boundary returns how many bytes of p, the next bytes the local node
// sends, come before a point where a packet may be inserted between two
// of its packets: 0 when one may be inserted now, -1 when no such point
// lies within p (or the handshake is not over).
func (c *Conn) Boundary(p []byte) int {
	c.mu.Lock()
	done := c.hsOut.done && c.hsOut.remain == 0
	c.mu.Unlock()
	if !done {
		return -1
	}
	t := &c.track
	switch {
	case t.hdrN == 0 && t.remain == 0:
		return 0
	case t.remain > 0:
		if t.remain <= len(p) {
			return t.remain
		}
		return -1
	}
	need := 4 - t.hdrN
	if len(p) < need {
		return -1
	}
	var hdr [4]byte
	copy(hdr[:], t.hdr[:t.hdrN])
	copy(hdr[t.hdrN:], p[:need])
	n := need + int(binary.BigEndian.Uint32(hdr[:]))
	if n > len(p) {
		return -1
	}
	return n
}
