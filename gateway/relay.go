package gateway

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

// relayBufs pools the large copy buffers across relays.
type relayBufs struct{ pool sync.Pool }

func newRelayBufs() *relayBufs {
	b := &relayBufs{}
	b.pool.New = func() any { return new([relayBufSize]byte) }
	return b
}

// halfCloser is a connection whose sending half can be closed alone: TCP,
// TLS and QUIC streams can.
type halfCloser interface {
	CloseWrite() error
}

// aborter is a connection that can be torn down at once, telling the far
// end that bytes may be missing (a QUIC stream reset); Close on it is the
// orderly end that delivers every byte.
type aborter interface {
	Abort()
}

// readDeadliner is a source whose reads can be given a deadline; the relay
// uses it to notice that a busy direction went idle.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

func abortConn(c io.Closer) {
	if a, ok := c.(aborter); ok {
		a.Abort()
		return
	}
	c.Close()
}

// RelayStats counts the bytes a relay moved; readable while it runs.
type RelayStats struct {
	AToB atomic.Int64
	BToA atomic.Int64
}

// relay copies bytes both ways between a and b until both directions have
// ended, then closes both. A clean end of one direction (EOF) is passed on
// as a half-close; any error on either side closes both at once, so the
// far end learns of it without waiting. Every byte read is written before
// the next read: nothing is dropped or reordered, and a slow side slows
// the other (backpressure).
func relay(a, b io.ReadWriteCloser, bufs *relayBufs, stats *RelayStats) error {
	var once sync.Once
	abort := func() {
		once.Do(func() {
			abortConn(a)
			abortConn(b)
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- pipe(b, a, bufs, &stats.AToB, abort) }()
	err1 := pipe(a, b, bufs, &stats.BToA, abort)
	err2 := <-errc
	once.Do(func() {
		// Both directions ended cleanly: an orderly close delivers
		// everything still in flight.
		a.Close()
		b.Close()
	})
	return errors.Join(err1, err2)
}

// pipe copies src to dst; at EOF it half-closes dst, on an error it aborts
// the relay.
func pipe(dst io.Writer, src io.Reader, bufs *relayBufs, count *atomic.Int64, abort func()) error {
	rd, _ := src.(readDeadliner)
	var small [relaySmallBuf]byte
	for {
		n, rerr := src.Read(small[:])
		if n > 0 {
			if _, werr := dst.Write(small[:n]); werr != nil {
				abort()
				return quiet(werr)
			}
			count.Add(int64(n))
		}
		if rerr != nil {
			return pipeEnd(dst, rerr, abort)
		}
		if n < len(small) || rd == nil {
			continue
		}
		// Data flows: a large buffer, until the direction idles.
		if done, err := pipeBusy(dst, src, rd, bufs, count, abort); done {
			return err
		}
	}
}

// pipeBusy copies with a large buffer until a read waits longer than
// relayIdleRelease; done is set when the direction has ended.
func pipeBusy(dst io.Writer, src io.Reader, rd readDeadliner, bufs *relayBufs, count *atomic.Int64, abort func()) (done bool, err error) {
	buf := bufs.pool.Get().(*[relayBufSize]byte)
	defer bufs.pool.Put(buf)
	armed := time.Now()
	rd.SetReadDeadline(armed.Add(relayIdleRelease))
	defer rd.SetReadDeadline(time.Time{})
	for {
		n, rerr := src.Read(buf[:])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				abort()
				return true, quiet(werr)
			}
			count.Add(int64(n))
			if now := time.Now(); now.Sub(armed) > relayIdleRelease/2 {
				armed = now
				rd.SetReadDeadline(now.Add(relayIdleRelease))
			}
		}
		if rerr != nil {
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				return false, nil // idle: back to the small buffer
			}
			return true, pipeEnd(dst, rerr, abort)
		}
	}
}

// pipeEnd ends a direction: a half-close at EOF, an abort otherwise.
func pipeEnd(dst io.Writer, rerr error, abort func()) error {
	if rerr == io.EOF {
		if hc, ok := dst.(halfCloser); ok {
			if err := hc.CloseWrite(); err != nil {
				abort()
				return quiet(err)
			}
			return nil
		}
		// dst cannot half-close: the relay ends with this direction.
		abort()
		return nil
	}
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
