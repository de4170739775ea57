package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
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

// Peer is how a peer gateway proves who it is: a pinned identity, a CA
// that signs its link certificate for ServerName, or both (either will
// do).
type Peer struct {
	Site       string
	Pinned     *IdentityID    // nil: no pin
	Roots      *x509.CertPool // nil: no CA
	ServerName string         // the name its certificate carries; Site when empty
}

// ErrUntrusted is wrapped by the errors of a certificate chain that
// belongs to no one this gateway trusts.
var ErrUntrusted = errors.New("certificate not trusted")

// verify checks a chain as presented in a TLS handshake (leaf first).
func (t *peerTrust) verify(chain []*x509.Certificate, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("peer %s: no certificate: %w", t.site, ErrUntrusted)
	}
	leaf := chain[0]
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("peer %s: certificate valid from %s to %s: %w", t.site, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339), ErrUntrusted)
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
	return fmt.Errorf("peer %s: %w: %w", t.site, ErrUntrusted, errors.Join(reasons...))
}

// verifyPinned accepts a chain whose leaf has the pinned key, or is signed
// by a certificate of the chain that has it.
func verifyPinned(chain []*x509.Certificate, pinned IdentityID) error {
	leaf := chain[0]
	if IdentityOf(leaf) == pinned {
		return nil
	}
	for _, c := range chain[1:] {
		if IdentityOf(c) != pinned {
			continue
		}
		if err := leaf.CheckSignatureFrom(c); err != nil {
			return fmt.Errorf("leaf not signed by the pinned identity: %w", err)
		}
		return nil
	}
	return fmt.Errorf("no certificate with the pinned identity %s (got %s)", pinned, IdentityOf(leaf))
}

// Trust decides who is at the other end of a mutual TLS connection: a
// peer gateway (by Peer) or a remote query client (a certificate its
// client CA signs). It holds no state that changes and is safe for
// concurrent use.
type Trust struct {
	peers   map[string]*peerTrust
	clients *x509.CertPool // remote query clients; nil: none
	site    string         // this gateway's site, when it has Members
	members Members        // the gateways of this site; nil: none
}

// Members are the gateways of this gateway's own site, as the site
// directory lists them: their links are trusted by the identity each
// publishes under its lease. The directory is only as trusted as etcd's
// client certificates: whoever may write it may add a member.
type Members interface {
	// Member reports whether a live member of the site has identity id,
	// and whether one with it is an edge (the edges of a site may share
	// one identity, the one its peers pin).
	Member(id IdentityID) (edge, ok bool)
}

// WithMembers returns a copy of t that also trusts the members of site.
func (t *Trust) WithMembers(site string, m Members) *Trust {
	c := *t
	c.site, c.members = site, m
	return &c
}

// NewTrust trusts peers, and remote query clients whose certificates
// clients signs (none when nil).
func NewTrust(peers []Peer, clients *x509.CertPool) *Trust {
	t := &Trust{peers: map[string]*peerTrust{}, clients: clients}
	for _, p := range peers {
		pt := &peerTrust{site: p.Site, pinned: p.Pinned, roots: p.Roots, serverName: p.ServerName}
		if pt.serverName == "" {
			pt.serverName = p.Site
		}
		t.peers[p.Site] = pt
	}
	return t
}

// Who is the other end of a mutual TLS connection: a peer gateway (Site)
// or a remote query client (Identity, its certificate's).
type Who struct {
	Site     string
	Identity string
	// Member is set for a gateway of this gateway's own site (Site is
	// then this site, Identity its link identity); Edge when it is one of
	// the site's edges.
	Member, Edge bool
}

// Identify returns who a certificate chain (leaf first, as presented in
// a handshake) belongs to: a peer gateway first, else a remote query
// client.
func (t *Trust) Identify(chain []*x509.Certificate, now time.Time) (Who, error) {
	site, err := t.identifyPeer(chain, now)
	if err == nil {
		return Who{Site: site}, nil
	}
	if id, edge, ok := t.member(chain, now); ok {
		return Who{Site: t.site, Identity: id.String(), Member: true, Edge: edge}, nil
	}
	if t.clients != nil && VerifyClient(t.clients, chain, now) == nil {
		return Who{Identity: CertIdentity(chain[0])}, nil
	}
	return Who{}, err
}

// IsClient reports whether a certificate chain (leaf first) is a remote
// query client's: one the client CA (remote.client_ca) signs for client
// authentication. It tells whether an identity verified by another root
// is also a remote query client's.
func (t *Trust) IsClient(chain []*x509.Certificate, now time.Time) bool {
	return t.clients != nil && VerifyClient(t.clients, chain, now) == nil
}

// identifyPeer returns the site of the peer a certificate chain belongs to.
func (t *Trust) identifyPeer(chain []*x509.Certificate, now time.Time) (string, error) {
	var errs []error
	for site, pt := range t.peers {
		err := pt.verify(chain, now)
		if err == nil {
			return site, nil
		}
		errs = append(errs, err)
	}
	if len(chain) > 0 {
		return "", fmt.Errorf("certificate of %q (identity %s) belongs to no configured peer: %w", chain[0].Subject.CommonName, IdentityOf(chain[0]), errors.Join(errs...))
	}
	return "", fmt.Errorf("no client certificate: %w", ErrUntrusted)
}

// member finds the member of this site a chain (leaf first) belongs to:
// a certificate of the chain has a member's identity and signed the leaf.
func (t *Trust) member(chain []*x509.Certificate, now time.Time) (IdentityID, bool, bool) {
	if t.members == nil || len(chain) == 0 {
		return IdentityID{}, false, false
	}
	leaf := chain[0]
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return IdentityID{}, false, false
	}
	for _, c := range chain {
		id := IdentityOf(c)
		edge, ok := t.members.Member(id)
		if ok && verifyPinned(chain, id) == nil {
			return id, edge, true
		}
	}
	return IdentityID{}, false, false
}

// VerifyPeer checks that a chain belongs to the peer of site; for this
// gateway's own site, to one of its edges.
func (t *Trust) VerifyPeer(site string, chain []*x509.Certificate, now time.Time) error {
	if site == t.site && t.members != nil {
		if _, edge, ok := t.member(chain, now); ok && edge {
			return nil
		}
		return fmt.Errorf("no edge of site %s has this certificate's identity: %w", site, ErrUntrusted)
	}
	pt := t.peers[site]
	if pt == nil {
		return fmt.Errorf("no peer %q is configured: %w", site, ErrUntrusted)
	}
	return pt.verify(chain, now)
}

// ServerName is the name the link certificate of site's gateway carries.
func (t *Trust) ServerName(site string) string {
	if pt := t.peers[site]; pt != nil {
		return pt.serverName
	}
	return site
}
