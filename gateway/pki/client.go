package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mholt/acmez/v3"
)

// LoadPool reads a PEM bundle of CA certificates. key names the setting
// the file comes from, for the errors ("remote.client_ca").
func LoadPool(file, key string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, file)
	}
	return pool, nil
}

// VerifyClient checks a client's chain (leaf first) against a CA pool,
// for client authentication.
func VerifyClient(pool *x509.CertPool, chain []*x509.Certificate, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no client certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

// CertIdentity names a client certificate: its first URI name (a SPIFFE
// ID, say), else its first DNS name, else its common name. Names in the
// subject alternative names come first: they are what CAs check and what
// name constraints bind, while a CA may leave the common name to the
// requester.
func CertIdentity(c *x509.Certificate) string {
	switch {
	case c == nil:
		return ""
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}

// IsACMEValidation reports whether a handshake was an ACME TLS-ALPN-01
// validation: answered by the handshake itself, it carries no client
// certificate and no data.
func IsACMEValidation(cs tls.ConnectionState) bool {
	return cs.NegotiatedProtocol == acmez.ACMETLS1Protocol
}

// RequireClientCert makes conf require a client certificate that pool
// signs (Go verifies it, and tells clients which CAs it accepts), except
// in ACME validations.
func RequireClientCert(conf *tls.Config, pool *x509.CertPool) {
	conf.ClientCAs = pool
	conf.ClientAuth = tls.VerifyClientCertIfGiven
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if IsACMEValidation(cs) || len(cs.PeerCertificates) > 0 {
			return nil
		}
		return errors.New("a client certificate is required")
	}
}

// RequireTrusted makes conf ask for a client certificate and accept only
// those t identifies (a peer gateway or a remote query client), except in
// ACME validations, which carry none: crypto/tls asks, t decides.
func RequireTrusted(conf *tls.Config, t *Trust) {
	conf.ClientAuth = tls.RequestClientCert
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if IsACMEValidation(cs) {
			return nil
		}
		_, err := t.Identify(cs.PeerCertificates, time.Now())
		return err
	}
}
