package wanem

import "time"

// slotChunk is how many packet buffers the pool allocates at once.
const slotChunk = 64

// delayLine holds the packets of one direction between their admission
// and their delivery, in buffers it recycles: after the first packets, a
// packet costs no allocation. Packets kept in order and packets held back
// (reordered) each sit in a FIFO whose delivery times never decrease (the
// Shaper guarantees it), so the earliest packet is always at the head of
// one of the two: no heap, no timer per packet. It is pure state, not safe
// for concurrent use.
type delayLine struct {
	slotSize int
	max      int      // most buffers
	bufs     [][]byte // every buffer allocated, by slot
	free     []int32  // slots not in use

	fifos [2]fifo // [0] in order, [1] held back
}

// packet is a buffered packet and when it is due.
type packet struct {
	at   time.Duration
	slot int32
	n    int32
}

// fifo is a ring of packets.
type fifo struct {
	ring []packet
	head int
	n    int
}

// newDelayLine returns a line holding at most max packets of up to
// slotSize bytes each.
func newDelayLine(slotSize, max int) *delayLine {
	l := &delayLine{slotSize: slotSize, max: max}
	l.fifos[0].ring = make([]packet, max)
	l.fifos[1].ring = make([]packet, max)
	return l
}

// alloc returns a free buffer and its slot, or ok false when the line
// holds max packets.
func (l *delayLine) alloc() (slot int32, buf []byte, ok bool) {
	if len(l.free) == 0 {
		n := len(l.bufs)
		if n >= l.max {
			return 0, nil, false
		}
		chunk := min(slotChunk, l.max-n)
		mem := make([]byte, chunk*l.slotSize)
		for i := range chunk {
			l.bufs = append(l.bufs, mem[i*l.slotSize:(i+1)*l.slotSize:(i+1)*l.slotSize])
			l.free = append(l.free, int32(n+chunk-1-i))
		}
	}
	slot = l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	return slot, l.bufs[slot], true
}

// release returns a slot's buffer to the pool.
func (l *delayLine) release(slot int32) { l.free = append(l.free, slot) }

// push schedules the packet of n bytes in slot for at; held says which
// FIFO. at must not be before the last one pushed into the same FIFO.
func (l *delayLine) push(slot int32, n int, at time.Duration, held bool) {
	f := &l.fifos[0]
	if held {
		f = &l.fifos[1]
	}
	// Cannot overflow: every packet holds one of at most max slots.
	f.ring[(f.head+f.n)%len(f.ring)] = packet{at: at, slot: slot, n: int32(n)}
	f.n++
}

// next returns the packet due first, without removing it.
func (l *delayLine) next() (p packet, ok bool) {
	a, b := &l.fifos[0], &l.fifos[1]
	switch {
	case a.n == 0 && b.n == 0:
		return packet{}, false
	case b.n == 0 || (a.n > 0 && a.ring[a.head].at <= b.ring[b.head].at):
		return a.ring[a.head], true
	default:
		return b.ring[b.head], true
	}
}

// pop removes the packet next returned, and returns its bytes; they stay
// valid until release(p.slot).
func (l *delayLine) pop() (p packet, b []byte) {
	a, h := &l.fifos[0], &l.fifos[1]
	f := a
	if a.n == 0 || (h.n > 0 && h.ring[h.head].at < a.ring[a.head].at) {
		f = h
	}
	p = f.ring[f.head]
	f.head = (f.head + 1) % len(f.ring)
	f.n--
	return p, l.bufs[p.slot][:p.n]
}

// len returns how many packets are scheduled.
func (l *delayLine) len() int { return l.fifos[0].n + l.fifos[1].n }
