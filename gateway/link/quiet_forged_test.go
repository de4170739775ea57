package link

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/relay"
)

// TestInboundQUICLivenessForged: a stranger who saw one packet of the link
// (its destination connection ID) sends garbage with that DCID from
// another address once the real peer went silent: the accepting side
// still ends the relay within the liveness (counting bytes received, it
// lasted QUIC's idle timeout, 5 s: the bound below sits between).
func TestInboundQUICLivenessForged(t *testing.T) {
	const liveness = time.Second
	certA, certB := newStaticCert(t), newStaticCert(t)
	leafA, _ := x509.ParseCertificate(certA.cert.Certificate[0])
	idA := pki.IdentityOf(leafA)
	b, err := New(Config{QUIC: freeLinkAddr(t), Certs: certB, Trust: pki.NewTrust([]pki.Peer{{Site: "site-a", Pinned: &idA}}, nil),
		Idle: time.Minute, DefaultLiveness: 3 * time.Second, DialTimeout: 5 * time.Second, AcceptIdle: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ended := make(chan time.Time, 1)
	b.Serve(func(_ context.Context, from From, s relay.Stream) {
		hdr, err := linkwire.ReadHeader(s)
		if err != nil {
			s.Abort()
			return
		}
		s.Write(linkwire.AppendReply(nil, linkwire.StatusOK, ""))
		ApplyLiveness(s, hdr.Liveness)
		s.Read(make([]byte, 1))
		ended <- time.Now()
		s.Abort()
	})
	udp, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	pc := &stallUDP{udp: udp}
	tr := &quic.Transport{Conn: pc}
	t.Cleanup(func() { pc.Close(); tr.Close() })
	qa, _ := b.Addrs()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dialler := &Manager{cfg: Config{DialTimeout: 5 * time.Second}}
	conn, err := tr.Dial(ctx, qa.(*net.UDPAddr), &tls.Config{Certificates: []tls.Certificate{certA.cert}, InsecureSkipVerify: true,
		NextProtos: []string{alpnLink}}, dialler.quicClientConfig(liveness))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := conn.OpenStreamSync(ctx)
	s.Write(linkwire.Header{Kind: linkwire.KindRelay, Target: "y@n1.site-b.example", Liveness: liveness}.Append(nil))
	if err := linkwire.ReadReply(s); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	pkt := pc.last.Load()
	if pkt == nil {
		t.Fatal("no 1-RTT packet seen")
	}
	at := time.Now()
	pc.stalled.Store(true)
	forger, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer forger.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Add(1)
	go func() {
		defer wg.Done()
		g := append([]byte(nil), (*pkt)...)
		for i := len(g) - 16; i < len(g); i++ {
			g[i] ^= 0xff // a bad AEAD tag: never authenticated
		}
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			forger.WriteTo(g, qa)
		}
	}()
	select {
	case e := <-ended:
		t.Logf("relay ended %v after the stall", e.Sub(at).Round(time.Millisecond))
		if e.Sub(at) > liveness+2*time.Second {
			t.Errorf("forged packets kept a silent link up for %v (liveness %v)", e.Sub(at).Round(time.Millisecond), liveness)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("relay still up 20s after the stall (liveness %v)", liveness)
	}
}
