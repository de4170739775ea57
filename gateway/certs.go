package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// certManager obtains and renews the gateway's link certificates through
// certmagic, from the built-in issuer (and, with public names, ACME).
type certManager struct {
	cfg   *certmagic.Config
	cache *certmagic.Cache
	names []string
}

// newCertManager manages certificates for names, stored under the data
// directory; it returns once they are loaded or issued.
func newCertManager(ctx context.Context, dataDir string, names []string, issuers []certmagic.Issuer, log *slog.Logger) (*certManager, error) {
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		Logger:           zap.NewNop(),
	})
	cfg = certmagic.New(cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: filepath.Join(dataDir, certStorageDir)},
		Issuers: issuers,
		Logger:  zap.NewNop(),
		OnEvent: func(_ context.Context, event string, data map[string]any) error {
			switch event {
			case "cert_obtained", "cert_failed", "cert_ocsp_revoked":
				log.Info("certificate "+event[len("cert_"):], "identifier", data["identifier"], "issuer", data["issuer"], "error", data["error"])
			}
			return nil
		},
	})
	if len(names) > 0 {
		cfg.DefaultServerName = names[0]
	}
	if err := cfg.ManageSync(ctx, names); err != nil {
		cache.Stop()
		return nil, fmt.Errorf("certificates for %v: %w", names, err)
	}
	return &certManager{cfg: cfg, cache: cache, names: names}, nil
}

// serverCert serves the certificate for the requested name (the default
// name when the client sends none).
func (m *certManager) serverCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.cfg.GetCertificate(hello)
}

// clientCert presents the gateway's own certificate to a peer.
func (m *certManager) clientCert(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return m.cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: m.names[0]})
}

func (m *certManager) stop() { m.cache.Stop() }

// leafExpiry reports when the current certificate for the primary name
// ends (zero if none is loaded).
func (m *certManager) leafExpiry() time.Time {
	c, err := m.clientCert(nil)
	if err != nil || c.Leaf == nil {
		return time.Time{}
	}
	return c.Leaf.NotAfter
}
