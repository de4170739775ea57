package link

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/linkwire"
)

// DialQuery opens a secure remote EPMD query over QUIC: a connection to
// a gateway's link port, one stream whose header asks for the EPMD
// service. The returned net.Conn carries one EPMD extension request and
// its reply, as a TLS connection to the remote query port does; closing
// it closes the QUIC connection. handshake bounds the QUIC handshake, idle
// the connection's silence.
func DialQuery(ctx context.Context, addr string, conf *tls.Config, handshake, idle time.Duration) (net.Conn, error) {
	conf = conf.Clone()
	conf.NextProtos = []string{alpnLink}
	conn, err := quic.DialAddr(ctx, addr, conf, &quic.Config{HandshakeIdleTimeout: handshake, MaxIdleTimeout: idle})
	if err != nil {
		return nil, fmt.Errorf("quic %s: %w", addr, err)
	}
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		conn.CloseWithError(0, "")
		return nil, fmt.Errorf("quic %s: %w", addr, err)
	}
	if _, err := s.Write(linkwire.Header{Kind: linkwire.KindEPMD}.Append(nil)); err != nil {
		conn.CloseWithError(0, "")
		return nil, fmt.Errorf("quic %s: %w", addr, err)
	}
	if d, ok := ctx.Deadline(); ok {
		s.SetReadDeadline(d)
	}
	if err := linkwire.ReadReply(s); err != nil {
		conn.CloseWithError(0, "")
		return nil, err
	}
	s.SetReadDeadline(time.Time{})
	return &streamNetConn{Stream: s, conn: conn}, nil
}

// streamNetConn is a QUIC stream as a net.Conn.
type streamNetConn struct {
	*quic.Stream
	conn *quic.Conn
}

func (c *streamNetConn) LocalAddr() net.Addr  { return c.conn.LocalAddr() }
func (c *streamNetConn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

func (c *streamNetConn) Close() error {
	c.Stream.Close()
	return c.conn.CloseWithError(0, "")
}
