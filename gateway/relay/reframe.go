package relay

import (
	"github.com/distgate/distgate/gateway/handshake"
)

// reframed rewrites the handshake framing of what is read from a stream,
// and reads straight through once the handshake is over.
type reframed struct {
	Stream
	rf      *handshake.Reframer
	pending []byte
	buf     []byte
}

// Reframe returns s with the handshake framing of what is read from it
// rewritten by rf (TLS distribution's 4-byte lengths to TCP's 2, or back);
// writes, half-closes, aborts and deadlines reach s unchanged.
func Reframe(s Stream, rf *handshake.Reframer) Stream {
	return &reframed{Stream: s, rf: rf}
}

func (r *reframed) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.rf.Passthrough() {
			return r.Stream.Read(p)
		}
		if r.buf == nil {
			r.buf = make([]byte, 4096)
		}
		n, err := r.Stream.Read(r.buf)
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
