package link

import (
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/ipv4"
)

// yieldingConn is the UDP socket a QUIC transport reads from: a
// *net.UDPConn whose batch reads first let the connections' run loops
// (which process the packets) catch up with what was read.
//
// quic-go's transport reads packets in a goroutine of its own and hands
// them to each connection's run loop through a queue of at most 256
// packets (quic-go's MaxConnUnprocessedPackets), dropping the packets
// that do not fit. The reader costs less per packet than the run loop
// (which decrypts, acknowledges and delivers to the streams), so in a
// burst (a slow start, or the socket's backlog after the process was
// descheduled) it outruns it and fills the queue: on the WAN bench the
// receiving gateway dropped up to 1% of a link's packets there, while its
// 14 MB socket buffer, which no one drops from, stayed empty. Each such
// drop is a loss to the sender's Cubic, which cuts its window by 30%; and
// quic-go's Cubic hardly grows it back (at 40 ms of round trip, 7 KB/s
// from 1.4 MB: it restarts its growth curve whenever an acknowledgement
// finds a few packets of window unused, which the batches the sender
// reads its acknowledgements in cause many times a second).
//
// So the reader keeps count: of the 1-RTT packets it read (short
// headers: the data of established connections) whose connection ID this
// transport issued (cids: sealed, so that a forged one is told at the
// cost of one AES block, and a stranger's junk is not counted), and of the packets the
// tracked connections' run loops processed (their PacketsReceived). Before
// each read, while the difference (the packets still queued) is above
// maxQueued, it waits for the run loops, and the backlog waits in the
// kernel's socket buffer instead of being dropped. It yields before each
// read too, for the run loops the last batch woke on its own P.
//
// The count drifts up with packets no tracked connection processes (for
// a connection just closed, stray or forged packets, those quic-go
// dropped anyway); when the run loops have processed nothing for
// resyncAfter while the count says they have work, the reader takes the
// count for drift and starts it again from zero. A packet forged with a
// connection ID seen on the path (an on-path attacker's) so costs at most
// resyncAfter of reading per maxQueued of them; without one, nothing.
type yieldingConn struct {
	*net.UDPConn
	batch *ipv4.PacketConn
	sleep func(time.Duration) // time.Sleep; tests stub it
	cids  *sealedCIDs         // the transport's ConnectionIDGenerator

	mu    sync.Mutex                     // serializes the writers of conns
	conns atomic.Pointer[[]*trackedConn] // copied on write: the reader only loads it
	ended atomic.Uint64                  // packets processed by connections no longer tracked

	// The reader's (quic-go's transport calls ReadBatch from one
	// goroutine).
	read uint64 // 1-RTT packets read
	skew uint64 // read less processed when the count was last started again
	seen uint64 // processed when last looked at: it only grows, so it bounds the queue from above
}

// trackedConn is a connection whose run loop the reader waits for.
type trackedConn struct {
	received func() uint64 // the packets its run loop processed (PacketsReceived)
	base     uint64        // received() when it was tracked
}

const (
	// maxQueued is how many packets the reader lets the run loops have
	// queued: below quic-go's 256 by a few batches of 8 (quic-go's batch
	// size on Linux), for the connections it does not track (handshakes).
	maxQueued = 192
	// resyncAfter is how long the run loops may process nothing while the
	// count says they have packets queued before the count is taken for
	// drift. A run loop starved of CPU longer than this may drop again.
	resyncAfter = 10 * time.Millisecond
	// waitStep is how long the reader sleeps between looks at the count.
	waitStep = 100 * time.Microsecond
)

func newYieldingConn(c *net.UDPConn) *yieldingConn {
	y := &yieldingConn{UDPConn: c, batch: ipv4.NewPacketConn(c), sleep: time.Sleep, cids: newSealedCIDs()}
	y.conns.Store(&[]*trackedConn{})
	return y
}

// track counts the packets conn processes, until it ends.
func (c *yieldingConn) track(conn *quic.Conn) {
	t := c.trackFunc(func() uint64 { return conn.ConnectionStats().PacketsReceived })
	context.AfterFunc(conn.Context(), func() { c.untrack(t) })
}

// trackFunc counts the packets received reports processed, from now.
func (c *yieldingConn) trackFunc(received func() uint64) *trackedConn {
	t := &trackedConn{received: received, base: received()}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := append(append([]*trackedConn(nil), *c.conns.Load()...), t)
	c.conns.Store(&next)
	return t
}

// untrack stops counting t, and keeps what it processed.
func (c *yieldingConn) untrack(t *trackedConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next []*trackedConn
	for _, o := range *c.conns.Load() {
		if o != t {
			next = append(next, o)
		}
	}
	c.conns.Store(&next)
	c.ended.Add(t.received() - t.base)
}

// processed is how many packets the tracked connections, and those that
// were tracked, processed since they were tracked.
func (c *yieldingConn) processed() uint64 {
	n := c.ended.Load()
	for _, t := range *c.conns.Load() {
		n += t.received() - t.base
	}
	return n
}

// queued is how many packets read the count says are not processed yet.
func (c *yieldingConn) queued(processed uint64) int64 {
	return int64(c.read - c.skew - processed)
}

// awaitRunLoops waits while the run loops have more than maxQueued
// packets queued and keep processing them.
func (c *yieldingConn) awaitRunLoops() {
	if c.queued(c.seen) <= maxQueued {
		return // fewer queued than that even by the last count: no need to ask the connections
	}
	p := c.processed()
	c.seen = p
	if c.queued(p) <= maxQueued {
		return
	}
	idle := time.Duration(0)
	for {
		c.sleep(waitStep)
		q := c.processed()
		c.seen = q
		if c.queued(q) <= maxQueued {
			return
		}
		if q != p {
			p, idle = q, 0
			continue
		}
		if idle += waitStep; idle >= resyncAfter {
			c.skew = c.read - q // drift: count again from zero
			return
		}
	}
}

// ReadBatch is what quic-go reads with when the conn has it (rather than
// an ipv4.PacketConn of its own over the same socket).
func (c *yieldingConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	runtime.Gosched()
	c.awaitRunLoops()
	n, err := c.batch.ReadBatch(ms, flags)
	for _, m := range ms[:max(n, 0)] { // n is -1 with an error
		if m.N > cidLen && len(m.Buffers) > 0 && len(m.Buffers[0]) > cidLen &&
			m.Buffers[0][0]&0x80 == 0 && c.cids.ours(m.Buffers[0][1:]) { // a short header (1-RTT) for a connection ID of ours
			c.read++
		}
	}
	return n, err
}
