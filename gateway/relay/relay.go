// Package relay moves the bytes of relayed distribution connections. A
// relay joins two Streams (a node's TCP connection, a TLS link, a QUIC
// stream, a terminated TLS caller) and copies both ways until both
// directions end; Ticker and Reframe are Streams that wrap a node's end
// (distribution ticks on a quiet connection, the handshake framing of TLS
// distribution), and Table lists the relays in progress for the status
// and the metrics.
//
// The relay's contract: every byte read is written before the next read,
// so nothing is lost or reordered and a slow side slows the other; a clean
// end of one direction is passed on as a half-close; any error closes both
// sides at once (Abort), so that the far end learns of it without
// waiting.
package relay

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Buffers of the relay. A direction that is idle blocks reading into a
// small buffer of its own; once data flows (a read fills it), it takes a
// large buffer from a pool and keeps it while reads keep coming, giving it
// back after relayIdleRelease without data. An idle relayed connection so
// holds a few hundred bytes, a busy one moves data in large chunks (and,
// over TLS, in full records written together).
const (
	relaySmallBuf    = 512
	relayBufSize     = 256 << 10
	relayIdleRelease = 50 * time.Millisecond
)

// Bufs pools the large copy buffers across relays; one serves every relay
// of a gateway.
type Bufs struct{ pool sync.Pool }

// NewBufs returns an empty pool.
func NewBufs() *Bufs {
	b := &Bufs{}
	b.pool.New = func() any { return new([relayBufSize]byte) }
	return b
}

// Stream is one end of a relayed connection: a TCP or TLS connection (see
// Conn), a QUIC stream, or a wrapper of one (Ticker, Reframe).
type Stream interface {
	io.ReadWriteCloser
	// CloseWrite closes the sending half alone: the far end reads EOF
	// once it has every byte.
	CloseWrite() error
	// Abort tears the stream down at once, telling the far end that bytes
	// may be missing (a QUIC stream reset); Close is the orderly end that
	// delivers every byte.
	Abort()
	// SetReadDeadline bounds the reads in progress and to come; the relay
	// uses it to notice that a busy direction went idle.
	SetReadDeadline(time.Time) error
}

// Stats counts the bytes a relay moved; readable while it runs. It also
// keeps how the relay ended (End).
type Stats struct {
	AToB atomic.Int64
	BToA atomic.Int64
	end  atomic.Pointer[End]
}

// Side is one of a relay's two streams.
type Side uint8

// Sides of Run(a, b, ...).
const (
	SideA Side = iota + 1
	SideB
)

// End is how a relay ended: the side whose read or write ended it first,
// with the error (nil: that side closed cleanly, EOF).
type End struct {
	Side Side
	Err  error
}

// End returns how the relay ended; a zero End while it runs.
func (s *Stats) End() End {
	if e := s.end.Load(); e != nil {
		return *e
	}
	return End{}
}

// ended notes the first end of a direction: what closed, or failed, first.
func (s *Stats) ended(side Side, err error) {
	s.end.CompareAndSwap(nil, &End{Side: side, Err: err})
}

// Run copies bytes both ways between a and b until both directions have
// ended, then closes both. A clean end of one direction (EOF) is passed on
// as a half-close; any error on either side closes both at once, so the
// far end learns of it without waiting. Every byte read is written before
// the next read: nothing is dropped or reordered, and a slow side slows
// the other (backpressure).
func Run(a, b Stream, bufs *Bufs, stats *Stats) error {
	var once sync.Once
	abort := func() {
		once.Do(func() {
			a.Abort()
			b.Abort()
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- pipe(b, a, bufs, &stats.AToB, stats, SideA, abort) }()
	err1 := pipe(a, b, bufs, &stats.BToA, stats, SideB, abort)
	err2 := <-errc
	once.Do(func() {
		// Both directions ended cleanly: an orderly close delivers
		// everything still in flight.
		a.Close()
		b.Close()
	})
	return errors.Join(err1, err2)
}

// pipe copies src (the side from) to dst; at EOF it half-closes dst, on
// an error it aborts the relay. The first end of either direction is
// noted in st.
func pipe(dst, src Stream, bufs *Bufs, count *atomic.Int64, st *Stats, from Side, abort func()) error {
	to := SideA + SideB - from
	var small [relaySmallBuf]byte
	for {
		n, rerr := src.Read(small[:])
		if n > 0 {
			if _, werr := dst.Write(small[:n]); werr != nil {
				st.ended(to, werr)
				abort()
				return quiet(werr)
			}
			count.Add(int64(n))
		}
		if rerr != nil {
			return pipeEnd(dst, rerr, st, from, abort)
		}
		if n < len(small) {
			continue
		}
		// Data flows: a large buffer, until the direction idles.
		if done, err := pipeBusy(dst, src, bufs, count, st, from, abort); done {
			return err
		}
	}
}

// pipeBusy copies with a large buffer until a read waits longer than
// relayIdleRelease; done is set when the direction has ended.
func pipeBusy(dst, src Stream, bufs *Bufs, count *atomic.Int64, st *Stats, from Side, abort func()) (done bool, err error) {
	buf := bufs.pool.Get().(*[relayBufSize]byte)
	defer bufs.pool.Put(buf)
	armed := time.Now()
	src.SetReadDeadline(armed.Add(relayIdleRelease))
	defer src.SetReadDeadline(time.Time{})
	for {
		n, rerr := src.Read(buf[:])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				st.ended(SideA+SideB-from, werr)
				abort()
				return true, quiet(werr)
			}
			count.Add(int64(n))
			if now := time.Now(); now.Sub(armed) > relayIdleRelease/2 {
				armed = now
				src.SetReadDeadline(now.Add(relayIdleRelease))
			}
		}
		if rerr != nil {
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				return false, nil // idle: back to the small buffer
			}
			return true, pipeEnd(dst, rerr, st, from, abort)
		}
	}
}

// pipeEnd ends a direction: a half-close at EOF, an abort otherwise.
func pipeEnd(dst Stream, rerr error, st *Stats, from Side, abort func()) error {
	if rerr == io.EOF {
		st.ended(from, nil)
		if err := dst.CloseWrite(); err != nil {
			st.ended(SideA+SideB-from, err)
			abort()
			return quiet(err)
		}
		return nil
	}
	st.ended(from, rerr)
	abort()
	return quiet(rerr)
}

// quiet drops the errors an aborted relay causes on its own side.
func quiet(err error) error {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
