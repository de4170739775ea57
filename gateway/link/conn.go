package link

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// A TLS link moves a relayed connection's bytes in TLS records of at most
// 16 KiB. Left to itself, crypto/tls writes each record with a system call
// of its own, and a reader gets one record per Read. Between the TLS
// connection and its TCP socket, linkConn gathers the records of one
// relay write into a single system call, and lets one relay read take
// every record the socket already holds: fewer system calls per byte, and
// fewer, larger writes to the node.

// linkReadBuf is the most a burst read takes from the socket at once.
const linkReadBuf = 256 << 10

// errWouldBlock is what a linkConn returns in non-blocking mode once its
// buffer is drained: a temporary error, after which crypto/tls keeps the
// connection usable.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// linkBufs pools the read and write buffers of a Manager's link
// connections; a connection holds one only while a burst lasts.
type linkBufs struct{ pool sync.Pool }

func newLinkBufs() *linkBufs {
	b := &linkBufs{}
	b.pool.New = func() any { b := make([]byte, 0, linkReadBuf); return &b }
	return b
}

func (b *linkBufs) get() *[]byte  { return b.pool.Get().(*[]byte) }
func (b *linkBufs) put(p *[]byte) { b.pool.Put(p) }

// linkConn is the TCP socket under a TLS link. It counts the bytes each
// way and notes the socket's first failure, for the links' status and log.
type linkConn struct {
	*net.TCPConn
	bufs *linkBufs

	in, out atomic.Uint64
	rawEOF  atomic.Bool // the socket read EOF: the peer closed its TCP connection
	failure atomic.Pointer[error]

	// Read side: used by the TLS connection's one reader.
	rb       *[]byte // held while it has data or during a burst
	r, w     int
	burst    bool
	nonblock bool

	wmu    sync.Mutex // crypto/tls may write an alert from its reader
	corked bool
	wb     *[]byte
}

func newLinkConn(c *net.TCPConn, bufs *linkBufs) *linkConn { return &linkConn{TCPConn: c, bufs: bufs} }

func (c *linkConn) release() {
	if c.rb != nil {
		*c.rb = (*c.rb)[:0]
		c.bufs.put(c.rb)
		c.rb, c.r, c.w = nil, 0, 0
	}
}

// Read serves buffered bytes first. Out of a burst it reads straight into
// the caller's buffer; in a burst (the last read filled what it was given)
// it reads as much as the socket holds into a pooled buffer.
func (c *linkConn) Read(p []byte) (int, error) {
	if c.r < c.w {
		n := copy(p, (*c.rb)[c.r:c.w])
		c.r += n
		if c.r == c.w && !c.burst {
			c.release()
		}
		return n, nil
	}
	if c.nonblock {
		return 0, errWouldBlock
	}
	if !c.burst {
		c.release()
		n, err := c.read(p)
		c.burst = n == len(p)
		return n, err
	}
	if c.rb == nil {
		c.rb = c.bufs.get()
	}
	buf := (*c.rb)[:cap(*c.rb)]
	n, err := c.read(buf)
	if n <= 0 {
		c.release()
		c.burst = false
		return 0, err
	}
	c.burst = n > len(buf)/4
	m := copy(p, buf[:n])
	c.r, c.w = m, n
	if m == n && !c.burst {
		c.release()
	}
	return m, nil
}

// Write gathers while corked, else writes through.
func (c *linkConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.corked {
		if c.wb == nil {
			c.wb = c.bufs.get()
		}
		*c.wb = append(*c.wb, p...)
		return len(p), nil
	}
	return c.write(p)
}

// read reads from the socket, counting and noting its end.
func (c *linkConn) read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.in.Add(uint64(n))
	if err == io.EOF {
		c.rawEOF.Store(true)
	} else if err != nil {
		err = c.failed(err)
	}
	return n, err
}

// write writes to the socket, counting and noting a failure.
func (c *linkConn) write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	c.out.Add(uint64(n))
	if err != nil {
		err = c.failed(err)
	}
	return n, err
}

// kill closes the socket because its link died: reads and writes return
// why from then on, and it is the connection's failure.
func (c *linkConn) kill(why error) {
	c.failure.CompareAndSwap(nil, &why)
	c.TCPConn.Close()
}

// failed notes the socket's first failure, but neither its own closing
// nor a deadline (the relay's, which notices an idle direction), and
// returns the error to report: a socket its link's death closed (kill)
// reports why.
func (c *linkConn) failed(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
	case !errors.Is(err, net.ErrClosed):
		c.failure.CompareAndSwap(nil, &err)
	default:
		if e := c.failure.Load(); e != nil {
			return *e
		}
	}
	return err
}

// Failure returns why the connection failed, nil when it has not: the
// socket's first error, or its end without a TLS close.
func (c *linkConn) Failure() error {
	if e := c.failure.Load(); e != nil {
		return *e
	}
	if c.rawEOF.Load() {
		return errClosedWithoutNotify
	}
	return nil
}

func (c *linkConn) cork() {
	c.wmu.Lock()
	c.corked = true
	c.wmu.Unlock()
}

// uncork sends what was gathered in one write.
func (c *linkConn) uncork() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.corked = false
	if c.wb == nil {
		return nil
	}
	_, err := c.write(*c.wb)
	*c.wb = (*c.wb)[:0]
	c.bufs.put(c.wb)
	c.wb = nil
	return err
}

// tlsLink is a TLS link connection as the relay uses it: one Write goes
// out in one system call however many records it takes, and one Read
// returns every record already received, up to the caller's buffer.
type tlsLink struct {
	*tls.Conn
	lc *linkConn
	m  *Manager // of a connection a peer dialled: ApplyLiveness tells it the relay's liveness
}

func newTLSLink(tc *tls.Conn) *tlsLink {
	lc, _ := tc.NetConn().(*linkConn)
	return &tlsLink{Conn: tc, lc: lc}
}

// Abort closes the connection as Close does: TLS has no reset, and the
// far end's relay ends on the close either way.
func (t *tlsLink) Abort() { t.Close() }

func (t *tlsLink) Write(p []byte) (int, error) {
	if t.lc == nil {
		return t.Conn.Write(p)
	}
	t.lc.cork()
	n, err := t.Conn.Write(p)
	if ferr := t.lc.uncork(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

func (t *tlsLink) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if err == io.EOF && t.lc != nil && t.lc.rawEOF.Load() {
		// crypto/tls takes a TCP end at a record boundary for a clean
		// one; without a close_notify, it is the link that ended.
		return n, errClosedWithoutNotify
	}
	if t.lc == nil || err != nil || n == 0 {
		return n, err
	}
	t.lc.nonblock = true
	defer func() { t.lc.nonblock = false }()
	for n < len(p) {
		m, err := t.Conn.Read(p[n:])
		n += m
		if err != nil {
			// errWouldBlock: nothing more is buffered. Any other error
			// comes back on the next Read.
			if !errors.Is(err, errWouldBlock) {
				return n, nil
			}
			break
		}
	}
	return n, nil
}
