package relay

import "net"

// HalfCloseConn is a connection whose sending half closes alone:
// *net.TCPConn and *tls.Conn are.
type HalfCloseConn interface {
	net.Conn
	CloseWrite() error
}

// Conn adapts a TCP or TLS connection to a Stream. TCP has no reset that
// Go can send portably, so Abort closes the connection.
func Conn(c HalfCloseConn) Stream { return conn{c} }

type conn struct{ HalfCloseConn }

func (c conn) Abort() { c.Close() }
