package gateway

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// relayBufSize is the size of each direction's copy buffer: as large as a
// TLS record, so a TLS link writes full records.
const relayBufSize = 16 << 10

// relayBufs pools copy buffers across relays.
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
	buf := bufs.pool.Get().(*[relayBufSize]byte)
	defer bufs.pool.Put(buf)
	for {
		n, rerr := src.Read(buf[:])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				abort()
				return quiet(werr)
			}
			count.Add(int64(n))
		}
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
		if rerr != nil {
			abort()
			return quiet(rerr)
		}
	}
}

// quiet drops the errors an aborted relay causes on its own side.
func quiet(err error) error {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
