package gateway

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// peerTrust decides whether a certificate chain belongs to one peer
// gateway: by its pinned identity (a certificate in the chain has the
// pinned public key and signed the leaf) or by a CA bundle (the chain
// verifies to it for the peer's server name).
type peerTrust struct {
	site       string
	pinned     *IdentityID
	roots      *x509.CertPool
	serverName string
}

func newPeerTrust(p PeerConfig) (*peerTrust, error) {
	t := &peerTrust{site: p.Site, serverName: p.ServerName}
	if t.serverName == "" {
		t.serverName = p.Site
	}
	if p.Identity != "" {
		id, err := ParseIdentity(p.Identity)
		if err != nil {
			return nil, fmt.Errorf("peer %s: %w", p.Site, err)
		}
		t.pinned = &id
	}
	if p.CA != "" {
		b, err := os.ReadFile(p.CA)
		if err != nil {
			return nil, fmt.Errorf("peer %s: ca: %w", p.Site, err)
		}
		t.roots = x509.NewCertPool()
		if !t.roots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("peer %s: ca %s holds no PEM certificate", p.Site, p.CA)
		}
	}
	return t, nil
}

var errUntrusted = errors.New("certificate not trusted")

// verify checks a chain as presented in a TLS handshake (leaf first).
func (t *peerTrust) verify(chain []*x509.Certificate, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("peer %s: no certificate: %w", t.site, errUntrusted)
	}
	leaf := chain[0]
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("peer %s: certificate valid from %s to %s: %w", t.site, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339), errUntrusted)
	}
	var reasons []error
	if t.pinned != nil {
		err := verifyPinned(chain, *t.pinned)
		if err == nil {
			return nil
		}
		reasons = append(reasons, err)
	}
	if t.roots != nil {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: t.roots, Intermediates: inter, DNSName: t.serverName, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err == nil {
			return nil
		}
		reasons = append(reasons, err)
	}
	return fmt.Errorf("peer %s: %w: %w", t.site, errUntrusted, errors.Join(reasons...))
}

// verifyPinned accepts a chain whose leaf has the pinned key, or is signed
// by a certificate of the chain that has it.
func verifyPinned(chain []*x509.Certificate, pinned IdentityID) error {
	leaf := chain[0]
	if identityOf(leaf) == pinned {
		return nil
	}
	for _, c := range chain[1:] {
		if identityOf(c) != pinned {
			continue
		}
		if err := leaf.CheckSignatureFrom(c); err != nil {
			return fmt.Errorf("leaf not signed by the pinned identity: %w", err)
		}
		return nil
	}
	return fmt.Errorf("no certificate with the pinned identity %s (got %s)", pinned, identityOf(leaf))
}
