package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway/handshake"
)

// testCA signs client certificates; its certificate is in a PEM file.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{key: key, file: filepath.Join(t.TempDir(), name+".pem")}
	ca.cert, _ = x509.ParseCertificate(der)
	if err := os.WriteFile(ca.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// client issues a client certificate with common name cn.
func (ca *testCA) client(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// callTLSPort calls a TLS termination port as a node running
// inet_tls_dist would, with server name sni and the client certificate
// cert (none when empty), and reports whether the gateway relayed its
// send_name to the node.
func callTLSPort(t testing.TB, port int, sni string, cert tls.Certificate, node *fakeNode) bool {
	t.Helper()
	node.mu.Lock()
	before := len(node.first)
	node.mu.Unlock()
	conf := &tls.Config{InsecureSkipVerify: true, ServerName: sni}
	if cert.Certificate != nil {
		conf.Certificates = []tls.Certificate{cert}
	}
	c, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), conf)
	if err != nil {
		t.Fatalf("TLS port: %v", err)
	}
	defer c.Close()
	body := handshake.AppendSendNameV6(nil, handshake.SendName{Name: "x@laptop", Flags: 1})
	if _, err := c.Write(append([]byte{0, 0, 0, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	// The node echoes what follows its first frame: a byte that comes back
	// went through; a refused caller's connection is closed.
	if _, err := c.Write([]byte{0, 0, 0, 1, 'x'}); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 1)
	_, err = c.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the TLS port neither relayed nor closed")
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	return err == nil && len(node.first) > before
}

// TestPublicIdentitiesAreNotRemote: remote.allow is written for the
// identities remote.client_ca verifies. A node whose certificate only
// public.client_ca signs, with the same name, does not pass it at a TLS
// termination port; a certificate that both roots verify does.
func TestPublicIdentitiesAreNotRemote(t *testing.T) {
	public, remote := newTestCA(t, "nodes"), newTestCA(t, "operators")
	for _, tc := range []struct {
		name      string
		remoteCA  *testCA
		reachable bool
	}{
		{"another root", remote, false},
		{"the same root", public, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := prepareSite(t, "edge")
			s.cfg.Links.Off, s.cfg.Links.QUIC, s.cfg.Links.TLS = true, "", ""
			s.cfg.Public = PublicConfig{Address: "127.0.0.1", ClientCA: public.file}
			s.cfg.Remote = RemoteConfig{ClientCA: tc.remoteCA.file, Allow: []RemoteRule{{Identity: "ops", Nodes: []string{"*"}}}}
			s.start(t)
			node := startFakeNode(t, s, "y")
			port, err := s.gw.term.Port("y")
			if err != nil {
				t.Fatal(err)
			}
			if got := callTLSPort(t, port, s.hostname, public.client(t, "ops"), node); got != tc.reachable {
				t.Fatalf("a node with public.client_ca's certificate for ops reached y: %v, want %v", got, tc.reachable)
			}
		})
	}
}
