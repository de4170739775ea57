package gateway

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/distgate/distgate/gateway/link"
)

// DialQUICQuery opens a secure remote EPMD query over QUIC to a gateway's
// link port (see link.DialQuery), with the gateway's timeouts: the
// handshake bounded as a link's, the connection closed after
// queryIdleTimeout of silence.
func DialQUICQuery(ctx context.Context, addr string, conf *tls.Config) (net.Conn, error) {
	return link.DialQuery(ctx, addr, conf, linkDialTimeout, queryIdleTimeout)
}
