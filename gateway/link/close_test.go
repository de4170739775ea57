package link

import (
	"net"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway/pki"
)

// TestUDPClosedOnClose: Close frees the link's UDP port (a quic.Transport
// does not close a socket it was given).
func TestUDPClosedOnClose(t *testing.T) {
	certB := newStaticCert(t)
	addr := freeLinkAddr(t)
	b, err := New(Config{QUIC: addr, Certs: certB, Trust: pki.NewTrust(nil, nil), Idle: time.Minute, DialTimeout: time.Second, AcceptIdle: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	qa, _ := b.Addrs()
	b.Close()
	c, err := net.ListenUDP("udp", qa.(*net.UDPAddr))
	if err != nil {
		t.Fatalf("link UDP port still bound after Close: %v", err)
	}
	c.Close()
}
