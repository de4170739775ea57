package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/certmagic"
)

// BuiltinIssuer is a certmagic.Issuer that signs link certificates with
// the gateway's identity: the same cache, storage and renewal serve its
// certificates as serve ACME's. Peers that pin the identity accept them.
type BuiltinIssuer struct {
	Identity *Identity
	// Lifetime of issued certificates; 7 days when zero. certmagic renews
	// them a third of their life before they end.
	Lifetime time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

var _ certmagic.Issuer = (*BuiltinIssuer)(nil)

// IssuerKey implements certmagic.Issuer: certificates of different
// identities never replace each other in storage.
func (b *BuiltinIssuer) IssuerKey() string {
	s := b.Identity.ID.String()
	return "distgate-builtin-" + s[len(identityPrefix):len(identityPrefix)+16]
}

// Issue implements certmagic.Issuer: it signs the CSR's key for the CSR's
// names, for server and client authentication (links are mutual TLS).
func (b *BuiltinIssuer) Issue(_ context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("builtin issuer: CSR signature: %w", err)
	}
	if len(csr.DNSNames) == 0 && len(csr.IPAddresses) == 0 {
		return nil, errors.New("builtin issuer: CSR has no names")
	}
	now := time.Now()
	if b.Now != nil {
		now = b.Now()
	}
	life := b.Lifetime
	if life <= 0 {
		life = 7 * 24 * time.Hour
	}
	cn := ""
	if len(csr.DNSNames) > 0 {
		cn = csr.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     csr.DNSNames,
		IPAddresses:  csr.IPAddresses,
		URIs:         csr.URIs,
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(life),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.Identity.Cert, csr.PublicKey, b.Identity.Key)
	if err != nil {
		return nil, fmt.Errorf("builtin issuer: %w", err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Identity.Cert.Raw})...)
	return &certmagic.IssuedCertificate{Certificate: chain}, nil
}
