package link

import (
	"net"

	"github.com/quic-go/quic-go"
)

// quicStream adapts a QUIC stream to a relay.Stream: Close is the orderly
// end (FIN, then stop reading), Abort resets both directions.
type quicStream struct {
	*quic.Stream
	conn *quic.Conn
	m    *Manager // of a stream the peer opened: ApplyLiveness has its connection watched
}

func (s quicStream) CloseWrite() error { return s.Stream.Close() }

// LocalAddr is the address of the QUIC connection's end here.
func (s quicStream) LocalAddr() net.Addr { return s.conn.LocalAddr() }

func (s quicStream) Close() error {
	err := s.Stream.Close()
	s.Stream.CancelRead(0)
	return err
}

func (s quicStream) Abort() {
	s.Stream.CancelRead(codeAborted)
	s.Stream.CancelWrite(codeAborted)
}
