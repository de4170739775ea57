package link

import (
	"net"
	"runtime"

	"golang.org/x/net/ipv4"
)

// yieldingConn is the UDP socket a QUIC transport reads from: a
// *net.UDPConn whose batch reads first let the goroutines the last batch
// woke run, the connections' run loops that process the packets.
//
// quic-go's transport reads packets in a goroutine of its own and hands
// them to each connection's run loop through a queue of at most 256
// packets (quic-go's MaxConnUnprocessedPackets), dropping the packets
// that do not fit. The reader costs less per packet than the run loop
// (which decrypts, acknowledges and delivers to the streams), so in a
// burst (a slow start, or the socket's backlog after the process was
// descheduled) it outruns it and fills the queue: on the WAN bench the
// receiving gateway dropped up to 1% of a link's packets there, while
// its 14 MB socket buffer, which no one drops from, stayed empty. Each
// such drop is a loss to the sender's Cubic, which cuts its window by
// 30% and takes seconds to grow it back at 40 ms of round trip. The run
// loop readied by the reader waits on the reader's P until the reader
// blocks or yields; yielding before each read makes the backlog wait in
// the kernel's socket buffer instead of being dropped.
type yieldingConn struct {
	*net.UDPConn
	batch *ipv4.PacketConn
}

func newYieldingConn(c *net.UDPConn) *yieldingConn {
	return &yieldingConn{UDPConn: c, batch: ipv4.NewPacketConn(c)}
}

// ReadBatch is what quic-go reads with when the conn has it (rather than
// an ipv4.PacketConn of its own over the same socket).
func (c *yieldingConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	runtime.Gosched()
	return c.batch.ReadBatch(ms, flags)
}
