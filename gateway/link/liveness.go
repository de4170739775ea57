package link

import (
	"net"
	"time"

	"github.com/distgate/distgate/gateway/relay"
)

// keepAliveFor is the TCP keep-alive of a TLS link with a liveness: three
// probes missed within it end the connection.
func keepAliveFor(liveness time.Duration) net.KeepAliveConfig {
	idle := max(liveness/3, time.Second)
	return net.KeepAliveConfig{Enable: true, Idle: idle, Interval: max(liveness/6, time.Second), Count: 3}
}

// ApplyLiveness gives a link stream a peer opened the liveness of the
// route the peer asked for. A QUIC stream's connection is closed, with its
// relays, once it hears nothing for the liveness (quiet.go: QUIC's idle
// timeout would take 5 s at least). A TLS link connection is ended by the
// link's control connection of that liveness when the peer stops
// answering, and by TCP keep-alives and a user timeout (on Linux) when
// TCP gives up, as on the dialling side.
func ApplyLiveness(s relay.Stream, liveness time.Duration) {
	if qs, ok := s.(quicStream); ok && qs.m != nil {
		qs.m.watchInbound(qs.conn, liveness)
		return
	}
	if tl, ok := s.(*tlsLink); ok && tl.m != nil {
		tl.m.setTLSLiveness(tl.Conn, liveness) // the link's control connection watches it
	}
	nc, ok := s.(interface{ NetConn() net.Conn })
	if !ok {
		return
	}
	var tcp *net.TCPConn
	switch c := nc.NetConn().(type) {
	case *linkConn:
		tcp = c.TCPConn
	case *net.TCPConn:
		tcp = c
	default:
		return
	}
	tcp.SetKeepAliveConfig(keepAliveFor(liveness))
	if rc, err := tcp.SyscallConn(); err == nil {
		userTimeoutControl(liveness)("", "", rc)
	}
}
