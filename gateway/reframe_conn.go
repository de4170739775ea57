package gateway

import (
	"io"
	"time"

	"github.com/distgate/distgate/gateway/handshake"
)

// reframedConn rewrites the handshake framing of what is read from a
// connection, and reads straight through once the handshake is over.
type reframedConn struct {
	io.ReadWriteCloser
	rf      *handshake.Reframer
	pending []byte
	buf     []byte
}

func newReframedConn(c io.ReadWriteCloser, rf *handshake.Reframer) *reframedConn {
	return &reframedConn{ReadWriteCloser: c, rf: rf}
}

func (r *reframedConn) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.rf.Passthrough() {
			return r.ReadWriteCloser.Read(p)
		}
		if r.buf == nil {
			r.buf = make([]byte, 4096)
		}
		n, err := r.ReadWriteCloser.Read(r.buf)
		var ferr error
		r.pending, ferr = r.rf.Feed(r.pending[:0], r.buf[:n])
		if ferr != nil {
			return 0, ferr
		}
		if err != nil {
			if len(r.pending) > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// CloseWrite and Abort reach the connection underneath.
func (r *reframedConn) CloseWrite() error {
	if hc, ok := r.ReadWriteCloser.(halfCloser); ok {
		return hc.CloseWrite()
	}
	return r.ReadWriteCloser.Close()
}

func (r *reframedConn) Abort() { abortConn(r.ReadWriteCloser) }

// SetReadDeadline reaches the connection underneath, when it has
// deadlines: the relay uses them to notice an idle direction.
func (r *reframedConn) SetReadDeadline(t time.Time) error {
	if d, ok := r.ReadWriteCloser.(readDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}
