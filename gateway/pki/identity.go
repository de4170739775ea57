package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distgate/distgate/gateway/datadir"
)

// An Identity is a gateway's long-lived key pair. Its public half, hashed,
// is what peers pin (IdentityID); its certificate is the CA of the
// gateway's built-in issuer, so a link certificate proves the identity by
// its chain.
type Identity struct {
	Key  *ecdsa.PrivateKey
	Cert *x509.Certificate // self-signed CA for Key
	ID   IdentityID
}

// IdentityID is the SHA-256 of a public key's SubjectPublicKeyInfo.
type IdentityID [sha256.Size]byte

const identityPrefix = "dg1:"

var identityEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// String renders the ID as `distgate id` prints it: dg1: and 52 base32
// characters, lower case.
func (id IdentityID) String() string {
	return identityPrefix + strings.ToLower(identityEncoding.EncodeToString(id[:]))
}

// ParseIdentity parses the form String prints.
func ParseIdentity(s string) (IdentityID, error) {
	var id IdentityID
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), identityPrefix)
	if !ok {
		return id, fmt.Errorf("identity %q does not start with %s", s, identityPrefix)
	}
	b, err := identityEncoding.DecodeString(strings.ToUpper(rest))
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("identity %q: want %s and 52 base32 characters", s, identityPrefix)
	}
	copy(id[:], b)
	return id, nil
}

// IdentityOf hashes a certificate's public key: the identity the
// certificate proves.
func IdentityOf(c *x509.Certificate) IdentityID {
	return sha256.Sum256(c.RawSubjectPublicKeyInfo)
}

// LoadOrCreateIdentity reads the identity from the data directory, making
// a new key (ECDSA P-256) and CA certificate on first start.
func LoadOrCreateIdentity(dataDir, site string, now time.Time) (*Identity, error) {
	if err := datadir.Ensure(dataDir); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dataDir, datadir.IdentityKey)
	key, err := readKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := datadir.WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("identity key: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	certPath := filepath.Join(dataDir, datadir.IdentityCert)
	cert, err := readCert(certPath)
	if err == nil && !cert.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		err = fmt.Errorf("identity certificate %s does not match the key", certPath)
	}
	if err != nil || now.After(cert.NotAfter.Add(-24*time.Hour)) {
		cert, err = selfSignCA(key, site, now)
		if err != nil {
			return nil, err
		}
		if err := datadir.WriteFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
			return nil, fmt.Errorf("identity certificate: %w", err)
		}
	}
	return &Identity{Key: key, Cert: cert, ID: IdentityOf(cert)}, nil
}

func readKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := datadir.ReadSecret(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("identity key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity key %s: %T, want an ECDSA key", path, k)
	}
	return ek, nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("certificate %s: no PEM block", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

// selfSignCA makes the identity's CA certificate: valid for 20 years, it
// may sign only leaf certificates.
func selfSignCA(key *ecdsa.PrivateKey, site string, now time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "distgate " + site, Organization: []string{"distgate"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("identity certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}
