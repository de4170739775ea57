package link

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/relay"
)

// fastOpenEnv runs TestTLSFastOpen's body in the test binary, with
// net.ipv4.tcp_fastopen set to its value: the parent test runs the binary
// so inside a network namespace of its own (the setting is per
// namespace, and a namespace holds a whole process, not goroutines).
const fastOpenEnv = "DISTGATE_TEST_TCP_FASTOPEN"

// TestTLSFastOpen: two link Managers over a TLS link, on the loopback of
// a network namespace of the test's. The link's control connection is a
// full handshake with a hybrid post-quantum key exchange; the relays'
// connections resume its session with X25519 alone, and once the kernel
// holds the peer's Fast Open cookie their SYN carries the ClientHello,
// acknowledged by the peer (TCPI_OPT_SYN_DATA) when the namespace lets
// listeners take Fast Open (net.ipv4.tcp_fastopen=3); with the default
// (1) everything works the same, without data in the SYN. A peer that
// forgot its ticket keys gets a full hybrid handshake again, never a
// classical one, and the resumed ClientHello fits in a SYN at an MTU of
// 1,500.
func TestTLSFastOpen(t *testing.T) {
	if v := os.Getenv(fastOpenEnv); v != "" {
		testFastOpenIn(t, v)
		return
	}
	requireRootAndIP(t)
	for _, c := range []struct{ name, sysctl string }{{"server-allowed", "3"}, {"client-only", "1"}} {
		t.Run(c.name, func(t *testing.T) {
			ns := fmt.Sprintf("tfo%d-%s", os.Getpid(), c.name)
			run(t, "ip", "netns", "add", ns)
			t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
			run(t, "ip", "-n", ns, "link", "set", "lo", "up")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0],
				"-test.run=^TestTLSFastOpen$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), fastOpenEnv+"="+c.sysctl)
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("--- PASS: TestTLSFastOpen")) {
				t.Fatalf("in namespace %s (net.ipv4.tcp_fastopen=%s): %v\n%s", ns, c.sysctl, err, out)
			}
			t.Logf("%s", out)
		})
	}
}

func requireRootAndIP(t *testing.T) {
	t.Helper()
	var missing string
	if _, err := exec.LookPath("ip"); err != nil {
		missing = "ip (iproute2) is missing (run scripts/install-deps.sh)"
	} else if os.Geteuid() != 0 {
		missing = "network namespaces need root"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(missing)
	}
	t.Skip(missing)
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// serverSide is what the accepting Manager saw of a relay connection.
type serverSide struct {
	resumed bool
	curve   tls.CurveID
}

func testFastOpenIn(t *testing.T, sysctl string) {
	if err := os.WriteFile("/proc/sys/net/ipv4/tcp_fastopen", []byte(sysctl), 0); err != nil {
		t.Fatal(err)
	}
	serverTFO := sysctl == "3"
	idA, certA := builtinCert(t, "site-a")
	idB, certB := builtinCert(t, "site-b")
	trust := pki.NewTrust([]pki.Peer{{Site: "site-a", Pinned: &idA.ID}, {Site: "site-b", Pinned: &idB.ID}}, nil)

	bAddr := freeLinkAddr(t)
	var logB bytes.Buffer
	b, err := New(Config{TLS: bAddr, Certs: certB, Trust: trust, Idle: time.Minute, DefaultLiveness: 3 * time.Second,
		DialTimeout: 5 * time.Second, AcceptIdle: time.Minute, Logger: slog.New(slog.NewTextHandler(&logB, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// At start, the listening gateway says once whether the host lets it
	// take Fast Open, and how to.
	if n := strings.Count(logB.String(), "sysctl -w net.ipv4.tcp_fastopen=3"); n != map[bool]int{true: 0, false: 1}[serverTFO] {
		t.Errorf("net.ipv4.tcp_fastopen=%s: the start log tells of the sysctl %d times:\n%s", sysctl, n, logB.String())
	}
	relays := make(chan serverSide, 16)
	b.Serve(func(_ context.Context, from From, s relay.Stream) {
		hdr, err := linkwire.ReadHeader(s)
		if err != nil {
			s.Abort()
			return
		}
		if hdr.Kind == linkwire.KindControl {
			b.ServeControl(from, s, hdr.Liveness)
			return
		}
		cs := s.(*tlsLink).ConnectionState()
		relays <- serverSide{resumed: cs.DidResume, curve: cs.CurveID}
		s.Write(linkwire.AppendReply(nil, linkwire.StatusOK, ""))
		io.Copy(io.Discard, s)
		s.Close()
	})
	var ups []State
	var mu sync.Mutex
	a, err := New(Config{Peers: []Peer{{Site: "site-b", TLS: []string{bAddr}}}, Certs: certA, Trust: trust, Idle: time.Minute,
		DefaultLiveness: 3 * time.Second, DialTimeout: 5 * time.Second, AcceptIdle: time.Minute,
		OnState: func(st State) {
			mu.Lock()
			defer mu.Unlock()
			if st.Up {
				ups = append(ups, st)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Serve(func(_ context.Context, _ From, s relay.Stream) { s.Abort() })

	// open opens a relay over the TLS link and returns what both sides saw
	// of its connection.
	open := func(i int) (client tls.ConnectionState, syn bool, server serverSide) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, _, err := a.Open(ctx, "site-b", TLS, 3*time.Second, linkwire.Header{Kind: linkwire.KindRelay, Target: "y@b"}, nil)
		if err != nil {
			t.Fatalf("relay %d: %v", i, err)
		}
		defer s.Close()
		tc := s.(*trackedTLS).Conn
		select {
		case server = <-relays:
		case <-ctx.Done():
			t.Fatalf("relay %d: the peer saw no relay", i)
		}
		return tc.ConnectionState(), synData(tc.NetConn().(*linkConn).TCPConn), server
	}
	check := func(i int, c tls.ConnectionState, syn bool, s serverSide, resumed bool, curve tls.CurveID, wantSYN bool) {
		t.Helper()
		if c.DidResume != resumed || s.resumed != resumed || c.CurveID != curve || s.curve != curve {
			t.Errorf("relay %d: resumed %v (peer: %v), key exchange %v (peer: %v); want %v, %v", i, c.DidResume, s.resumed, c.CurveID, s.curve, resumed, curve)
		}
		if syn != wantSYN {
			t.Errorf("relay %d: SYN carried data the peer acknowledged: %v, want %v", i, syn, wantSYN)
		}
	}

	// The first relay brings the link up: its control connection is a full
	// hybrid handshake, without Fast Open; the relay's connection resumes
	// and asks the peer for a Fast Open cookie.
	c, syn, s := open(1)
	mu.Lock()
	if len(ups) != 1 || ups[0].Resumed || ups[0].KeyExchange != tls.X25519MLKEM768 || ups[0].SYNData {
		t.Errorf("the link came up %+v: want one full handshake, X25519MLKEM768, no data in its SYN", ups)
	}
	mu.Unlock()
	check(1, c, syn, s, true, tls.X25519, false)
	for i := 2; i <= 3; i++ { // with the cookie: the ClientHello in the SYN
		c, syn, s = open(i)
		check(i, c, syn, s, true, tls.X25519, serverTFO)
	}

	// The resumed ClientHello, ticket and all, fits in a SYN at an MTU of
	// 1,500 (IPv6: 1,500 - 40 - 20 of headers, 40 of options).
	hello := resumedHelloLen(t, a, bAddr)
	if hello > 1400 {
		t.Errorf("the resumed ClientHello is %d bytes: it does not fit in a SYN", hello)
	}
	t.Logf("resumed ClientHello: %d bytes", hello)

	// The peer forgets its ticket keys (a restart): the ticket is refused,
	// and the connection is dialled again with a hybrid key exchange; the
	// next one resumes the new session.
	var key [32]byte
	rand.Read(key[:])
	b.serverTLS.SetSessionTicketKeys([][32]byte{key})
	if !a.tlsSessions.holds(edgeTicketKey(bAddr, "site-b"), time.Now()) {
		t.Fatal("site-a holds no ticket for site-b: the next dial would not try to resume")
	}
	c, syn, s = open(4)
	check(4, c, syn, s, false, tls.X25519MLKEM768, false)
	c, syn, s = open(5)
	check(5, c, syn, s, true, tls.X25519, serverTFO) // the kernel still holds the cookie
}

// resumedHelloLen runs a resumed handshake of a's with the peer at addr,
// as a relay's dial does, and returns the length of its first write: the
// ClientHello.
func resumedHelloLen(t *testing.T, a *Manager, addr string) int {
	t.Helper()
	conf := a.clientTLS("site-b", a.tlsSessions.at(addr))
	if !a.tlsSessions.holds(edgeTicketKey(addr, conf.ServerName), time.Now()) {
		t.Fatal("no ticket held for site-b")
	}
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &firstWrite{Conn: raw}
	tc := tls.Client(rc, tlsResume(conf))
	defer tc.Close()
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if !tc.ConnectionState().DidResume {
		t.Fatal("did not resume")
	}
	return rc.n
}

type firstWrite struct {
	net.Conn
	n int
}

func (c *firstWrite) Write(p []byte) (int, error) {
	if c.n == 0 {
		c.n = len(p)
	}
	return c.Conn.Write(p)
}

// builtinCert makes site's identity and a link certificate from the
// built-in issuer: the chain a gateway presents (leaf and identity).
func builtinCert(t *testing.T, site string) (*pki.Identity, staticCert) {
	t.Helper()
	id, err := pki.LoadOrCreateIdentity(t.TempDir(), site, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{site}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	issued, err := (&pki.BuiltinIssuer{Identity: id}).Issue(context.Background(), csr)
	if err != nil {
		t.Fatal(err)
	}
	var cert tls.Certificate
	for rest := issued.Certificate; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		cert.Certificate = append(cert.Certificate, blk.Bytes)
	}
	cert.PrivateKey = key
	return id, staticCert{cert}
}
