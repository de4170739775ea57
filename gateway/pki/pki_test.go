package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIdentityRoundTrip(t *testing.T) {
	dir := t.TempDir()
	id, err := LoadOrCreateIdentity(dir, "x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseIdentity(id.ID.String())
	if err != nil || parsed != id.ID {
		t.Fatalf("ParseIdentity(%s) = %v, %v", id.ID, parsed, err)
	}
	again, err := LoadOrCreateIdentity(dir, "x", time.Now())
	if err != nil || again.ID != id.ID {
		t.Fatalf("reloaded identity %v, %v; want %v", again.ID, err, id.ID)
	}
	for _, bad := range []string{"", "dg1:", "dg2:" + strings.Repeat("a", 52), "dg1:" + strings.Repeat("!", 52)} {
		if _, err := ParseIdentity(bad); err == nil {
			t.Errorf("ParseIdentity(%q) succeeded", bad)
		}
	}
}

// leafOf issues a certificate for name from id's built-in issuer and
// returns the chain a handshake would present.
func leafOf(t *testing.T, id *Identity, name string) []*x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := (&BuiltinIssuer{Identity: id}).Issue(context.Background(), csr)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for rest := issued.Certificate; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return chain
}

func newIdentity(t *testing.T, site string) *Identity {
	t.Helper()
	id, err := LoadOrCreateIdentity(t.TempDir(), site, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestTrust: a peer is known by its pinned identity or its CA, a remote
// client by its client CA, and anyone else is refused.
func TestTrust(t *testing.T) {
	a, b, ca, stranger := newIdentity(t, "a"), newIdentity(t, "b"), newIdentity(t, "ca"), newIdentity(t, "x")
	roots := x509.NewCertPool()
	roots.AddCert(b.Cert)
	clients := x509.NewCertPool()
	clients.AddCert(ca.Cert)
	tr := NewTrust([]Peer{{Site: "a", Pinned: &a.ID}, {Site: "b", Roots: roots, ServerName: "gw.b.example"}}, clients)
	now := time.Now()
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		want  Who
	}{
		{"pinned", leafOf(t, a, "a"), Who{Site: "a"}},
		{"by CA", leafOf(t, b, "gw.b.example"), Who{Site: "b"}},
		{"client", leafOf(t, ca, "ops-1"), Who{Identity: "ops-1"}},
	} {
		got, err := tr.Identify(tc.chain, now)
		if err != nil || got != tc.want {
			t.Errorf("%s: Identify = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	if _, err := tr.Identify(leafOf(t, stranger, "a"), now); !errors.Is(err, ErrUntrusted) {
		t.Errorf("a stranger: %v, want ErrUntrusted", err)
	}
	if _, err := tr.Identify(nil, now); !errors.Is(err, ErrUntrusted) {
		t.Errorf("no certificate: %v, want ErrUntrusted", err)
	}
	// b's CA signs for its server name only.
	if err := tr.VerifyPeer("b", leafOf(t, b, "other.example"), now); !errors.Is(err, ErrUntrusted) {
		t.Errorf("b under another name: %v", err)
	}
	if err := tr.VerifyPeer("a", leafOf(t, a, "a"), now.Add(30*24*time.Hour)); err == nil || !strings.Contains(err.Error(), "valid from") {
		t.Errorf("an expired certificate: %v", err)
	}
	if tr.ServerName("a") != "a" || tr.ServerName("b") != "gw.b.example" {
		t.Errorf("server names %q %q", tr.ServerName("a"), tr.ServerName("b"))
	}
}

func TestLoadPool(t *testing.T) {
	dir := t.TempDir()
	id := newIdentity(t, "a")
	good := filepath.Join(dir, "good.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Raw}), 0o600)
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not PEM"), 0o600)
	if _, err := LoadPool(good, "x.ca"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPool(bad, "x.ca"); err == nil || !strings.Contains(err.Error(), "x.ca: ") || !strings.Contains(err.Error(), "no PEM") {
		t.Fatalf("bad bundle: %v", err)
	}
	if _, err := LoadPool(filepath.Join(dir, "none"), "x.ca"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing bundle: %v", err)
	}
}

// TestCertIdentityPrefersSANs: a certificate's identity is its first URI
// name, else its first DNS name, and its common name only without either:
// a CA checks the alternative names, and name constraints bind them.
func TestCertIdentityPrefersSANs(t *testing.T) {
	spiffe, _ := url.Parse("spiffe://example.org/app")
	for _, tc := range []struct {
		cert x509.Certificate
		want string
	}{
		{x509.Certificate{Subject: pkix.Name{CommonName: "ops"}, URIs: []*url.URL{spiffe}, DNSNames: []string{"app.example.org"}}, "spiffe://example.org/app"},
		{x509.Certificate{Subject: pkix.Name{CommonName: "ops"}, DNSNames: []string{"app.example.org"}}, "app.example.org"},
		{x509.Certificate{Subject: pkix.Name{CommonName: "ops"}}, "ops"},
		{x509.Certificate{}, ""},
	} {
		if got := CertIdentity(&tc.cert); got != tc.want {
			t.Errorf("CertIdentity(CN %q, URIs %v, DNS %v) = %q, want %q", tc.cert.Subject.CommonName, tc.cert.URIs, tc.cert.DNSNames, got, tc.want)
		}
	}
	if CertIdentity(nil) != "" {
		t.Error("CertIdentity(nil) is not empty")
	}
}

// TestIsClient: a chain is a remote query client's when the client CA
// signs it, and only then.
func TestIsClient(t *testing.T) {
	ca, other := newIdentity(t, "ca"), newIdentity(t, "other")
	clients := x509.NewCertPool()
	clients.AddCert(ca.Cert)
	now := time.Now()
	if tr := NewTrust(nil, clients); !tr.IsClient(leafOf(t, ca, "ops"), now) || tr.IsClient(leafOf(t, other, "ops"), now) {
		t.Error("IsClient does not follow the client CA")
	}
	if NewTrust(nil, nil).IsClient(leafOf(t, ca, "ops"), now) {
		t.Error("IsClient without a client CA")
	}
}
