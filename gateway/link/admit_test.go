package link

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/relay"
	"github.com/distgate/distgate/internal/freeport"
)

// staticCert presents one self-signed certificate.
type staticCert struct{ cert tls.Certificate }

func (s staticCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &s.cert, nil
}

func (s staticCert) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &s.cert, nil
}

func newStaticCert(t testing.TB) staticCert {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return staticCert{tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// newTestManager starts a Manager with a QUIC and a TLS listener on
// loopback that trusts no one.
func newTestManager(t testing.TB, limits admit.Limits) *Manager {
	t.Helper()
	addr := freeLinkAddr(t)
	m, err := New(Config{QUIC: addr, TLS: addr, Certs: newStaticCert(t), Trust: pki.NewTrust(nil, nil),
		Idle: time.Minute, DefaultLiveness: 3 * time.Second, DialTimeout: 5 * time.Second, AcceptIdle: time.Minute,
		Admit: limits})
	if err != nil {
		t.Fatal(err)
	}
	m.Serve(func(_ context.Context, _ From, s relay.Stream) { s.Abort() })
	t.Cleanup(m.Close)
	return m
}

// freeLinkAddr returns a loopback address free now for TCP and UDP, from
// below the ephemeral range (see internal/freeport).
func freeLinkAddr(t testing.TB) string {
	t.Helper()
	port, err := freeport.Link()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// silentUDP sends its first datagram and nothing more, and hears nothing.
type silentUDP struct {
	udp    *net.UDPConn // not embedded: quic-go would use its ReadMsgUDP and WriteMsgUDP
	once   sync.Once
	closed chan struct{}
}

func (c *silentUDP) LocalAddr() net.Addr                { return c.udp.LocalAddr() }
func (c *silentUDP) SetDeadline(t time.Time) error      { return nil }
func (c *silentUDP) SetReadDeadline(t time.Time) error  { return nil }
func (c *silentUDP) SetWriteDeadline(t time.Time) error { return nil }

func (c *silentUDP) WriteTo(b []byte, a net.Addr) (int, error) {
	c.once.Do(func() { c.udp.WriteTo(b, a) })
	return len(b), nil
}

func (c *silentUDP) ReadFrom([]byte) (int, net.Addr, error) {
	<-c.closed
	return 0, nil, net.ErrClosed
}

func (c *silentUDP) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return c.udp.Close()
}

// TestQUICAdmission: silent QUIC handshakes from many addresses take at
// most a quarter of the listener's connections; past that, attempts must
// prove their address first (a Retry), which a forged or silent one never
// does. Their admissions end with their connections.
func TestQUICAdmission(t *testing.T) {
	m := newTestManager(t, admit.Limits{Rate: 1e6, Burst: 1e6, PerSource: 8, Total: 40, MaxSources: 10000})
	qa, _ := m.Addrs()
	var wg sync.WaitGroup
	for i := range 100 {
		udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 7, byte(i/50), byte(i%50+1))})
		if err != nil {
			t.Fatal(err)
		}
		pc := &silentUDP{udp: udp, closed: make(chan struct{})}
		tr := &quic.Transport{Conn: pc}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tr.Close()
			defer pc.Close() // first: the transport waits for its reader
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			tr.Dial(ctx, qa.(*net.UDPAddr), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpnLink}}, &quic.Config{})
		}()
	}
	wg.Wait()
	if st := m.quicAdmit.Stats(); st.Active != 40/4 {
		t.Fatalf("after 100 silent handshakes: %+v, want 10 held (a quarter of 40)", st)
	}
	m.Close() // the handshakes end, and their admissions with them
	deadline := time.Now().Add(5 * time.Second)
	for m.quicAdmit.Stats().Active != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := m.quicAdmit.Stats(); st.Active != 0 {
		t.Fatalf("after Close: %+v", st)
	}
}

// TestTLSAdmission: silent TCP connections to the TLS link listener from
// many addresses hold at most its total; the oldest are closed to make
// room for new ones, and refusals are logged a few at a time.
func TestTLSAdmission(t *testing.T) {
	m := newTestManager(t, admit.Limits{Rate: 1e6, Burst: 1e6, PerSource: 8, Total: 40, MaxSources: 10000})
	_, ta := m.Addrs()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 100 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 8, byte(i/20), byte(i%20+1))}}
		c, err := d.Dial("tcp4", ta.String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The gateway accepts them as the test goes on.
	deadline := time.Now().Add(5 * time.Second)
	for st := m.tlsAdmit.Stats(); uint64(st.Active)+st.Evicted < 100 && time.Now().Before(deadline); st = m.tlsAdmit.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	st := m.tlsAdmit.Stats()
	// The first 60 were closed by the gateway to make room.
	closed := 0
	for _, c := range conns[:60] {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++
		}
	}
	if st.Active != 40 || st.Evicted != 60 || closed != 60 {
		t.Fatalf("after 100 silent connections: %+v, %d of the oldest 60 closed", st, closed)
	}
}
