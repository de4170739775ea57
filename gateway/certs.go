package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"
)

// certManager obtains and renews the gateway's certificates through
// certmagic: the link certificate for the site name from the built-in
// issuer (always, synchronously at start), and certificates for public
// names from ACME (in the background: a CA that is down at start does not
// stop the gateway, which retries with backoff and says so).
type certManager struct {
	cache   *certmagic.Cache
	builtin *certmagic.Config
	acme    *certmagic.Config // nil without public names
	site    string
	public  map[string]bool
	log     *slog.Logger

	mu     sync.Mutex // guards state
	state  map[string]*CertState
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// CertState is what `distgate status` shows of one certificate.
type CertState struct {
	Name      string    `json:"name"`
	Issuer    string    `json:"issuer"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	ErrorAt   time.Time `json:"error_at,omitzero"`
	NextTry   time.Time `json:"next_try,omitzero"`
	Renewals  int       `json:"renewals"`
}

// certOptions are the inputs of newCertManager.
type certOptions struct {
	dataDir  string
	site     string
	names    []string // more names for the built-in certificate
	builtin  certmagic.Issuer
	acme     ACMEConfig
	renewChk time.Duration // how often certmagic checks renewals
}

func newCertManager(ctx context.Context, o certOptions, log *slog.Logger) (*certManager, error) {
	m := &certManager{site: o.site, public: map[string]bool{}, log: log, state: map[string]*CertState{}}
	storage := &certmagic.FileStorage{Path: filepath.Join(o.dataDir, certStorageDir)}
	renewChk := o.renewChk
	if renewChk == 0 {
		renewChk = 10 * time.Minute
	}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			for _, n := range c.Names {
				if m.acme != nil && m.public[strings.ToLower(n)] {
					return m.acme, nil
				}
			}
			return m.builtin, nil
		},
		RenewCheckInterval: renewChk,
		Logger:             zap.NewNop(),
	})
	m.builtin = certmagic.New(m.cache, certmagic.Config{
		Storage: storage, Issuers: []certmagic.Issuer{o.builtin}, Logger: zap.NewNop(), OnEvent: m.onEvent,
		// Names nothing is issued for get the site's certificate: the
		// client decides whether that will do.
		DefaultServerName: o.site, FallbackServerName: o.site,
	})
	names := append([]string{o.site}, o.names...)
	if err := m.builtin.ManageSync(ctx, names); err != nil {
		m.cache.Stop()
		return nil, fmt.Errorf("certificates for %v: %w", names, err)
	}
	if len(o.acme.Names) == 0 {
		return m, nil
	}
	iss, err := m.acmeIssuer(o.acme)
	if err != nil {
		m.cache.Stop()
		return nil, err
	}
	issuers := []certmagic.Issuer{iss}
	ratio := o.acme.RenewalRatio
	if ratio == 0 {
		ratio = 1.0 / 3
	}
	m.acme = certmagic.New(m.cache, certmagic.Config{
		Storage: storage, Issuers: issuers, Logger: zap.NewNop(), OnEvent: m.onEvent,
		RenewalWindowRatio: ratio,
	})
	for _, n := range o.acme.Names {
		m.public[strings.ToLower(n)] = true
		m.state[n] = &CertState{Name: n, Issuer: "acme"}
	}
	// In the background: the gateway serves with what storage holds (or
	// the built-in certificate) meanwhile, and retries a CA that is down
	// with its own backoff, from seconds up to five minutes.
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	for _, n := range o.acme.Names {
		m.wg.Add(1)
		go m.manage(bg, n)
	}
	return m, nil
}

// ACME retry backoff when a certificate cannot be obtained.
const (
	acmeRetryMin = 2 * time.Second
	acmeRetryMax = 5 * time.Minute
)

// manage obtains (or loads) the certificate of a public name, retrying
// until it succeeds; from then on certmagic's maintenance renews it.
func (m *certManager) manage(ctx context.Context, name string) {
	defer m.wg.Done()
	wait := acmeRetryMin
	for {
		err := m.acme.ManageSync(ctx, []string{name})
		if err == nil || ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		st := m.state[name]
		st.LastError, st.ErrorAt, st.NextTry = err.Error(), time.Now(), time.Now().Add(wait)
		m.mu.Unlock()
		m.log.Warn("certificate not obtained: serving without it, retrying", "name", name, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, acmeRetryMax)
	}
}

func (m *certManager) acmeIssuer(c ACMEConfig) (*certmagic.ACMEIssuer, error) {
	tmpl := certmagic.ACMEIssuer{
		CA: c.CA, Email: c.Email, Agreed: true, Logger: zap.NewNop(),
		DisableHTTPChallenge:    c.Challenge != challengeHTTP,
		DisableTLSALPNChallenge: c.Challenge != challengeTLSALPN,
		AltTLSALPNPort:          c.TLSALPNPort,
	}
	if c.Challenge == challengeHTTP {
		host, port, err := splitPort(c.HTTPAddress)
		if err != nil {
			return nil, fmt.Errorf("acme.http_address: %w", err)
		}
		tmpl.ListenHost, tmpl.AltHTTPPort = host, port
	}
	if c.TrustedRoots != "" {
		b, err := os.ReadFile(c.TrustedRoots)
		if err != nil {
			return nil, fmt.Errorf("acme.trusted_roots: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("acme.trusted_roots %s holds no PEM certificate", c.TrustedRoots)
		}
		tmpl.TrustedRoots = pool
	}
	return certmagic.NewACMEIssuer(m.builtin, tmpl), nil
}

// onEvent logs certmagic's events and keeps each name's state for the
// status.
func (m *certManager) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_obtained":
		m.log.Info("certificate obtained", "name", name, "issuer", data["issuer"], "renewal", data["renewal"])
		m.mu.Lock()
		if st := m.state[name]; st != nil {
			st.LastError, st.ErrorAt, st.NextTry = "", time.Time{}, time.Time{}
			if r, _ := data["renewal"].(bool); r {
				st.Renewals++
			}
		}
		m.mu.Unlock()
	case "cert_failed":
		err, _ := data["error"].(error)
		msg := fmt.Sprint(err)
		m.log.Warn("certificate not obtained", "name", name, "issuer", data["issuer"], "err", msg)
		m.mu.Lock()
		if st := m.state[name]; st != nil {
			st.LastError, st.ErrorAt = msg, time.Now()
		}
		m.mu.Unlock()
	}
	return nil
}

// getCertificate serves a TLS handshake: ACME challenges and public names
// from the ACME configuration, everything else with the site's
// certificate.
func (m *certManager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.acme != nil && (m.public[strings.ToLower(hello.ServerName)] || isACMEChallenge(hello)) {
		if c, err := m.acme.GetCertificate(hello); err == nil || isACMEChallenge(hello) {
			return c, err
		}
	}
	return m.builtin.GetCertificate(hello)
}

func isACMEChallenge(hello *tls.ClientHelloInfo) bool {
	for _, p := range hello.SupportedProtos {
		if p == acmez.ACMETLS1Protocol {
			return true
		}
	}
	return false
}

// serverCert is getCertificate for links (the site name by default).
func (m *certManager) serverCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.getCertificate(hello)
}

// clientCert presents the site's certificate to a peer.
func (m *certManager) clientCert(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	var best *certmagic.Certificate
	for _, c := range m.cache.AllMatchingCertificates(m.site) {
		if c.Leaf != nil && (best == nil || c.Leaf.NotAfter.After(best.Leaf.NotAfter)) {
			best = &c
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no certificate for %s is loaded", m.site)
	}
	return &best.Certificate, nil
}

// states reports every managed certificate.
func (m *certManager) states() []CertState {
	out := []CertState{{Name: m.site, Issuer: "builtin", NotAfter: m.expiry(m.site)}}
	m.mu.Lock()
	defer m.mu.Unlock()
	for n, st := range m.state {
		s := *st
		s.NotAfter = m.expiry(n)
		out = append(out, s)
	}
	return out
}

// expiry is when the newest cached certificate for name ends (zero when
// none is cached).
func (m *certManager) expiry(name string) time.Time {
	var end time.Time
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && c.Leaf.NotAfter.After(end) {
			end = c.Leaf.NotAfter
		}
	}
	return end
}

// leafExpiry is when the site's certificate ends.
func (m *certManager) leafExpiry() time.Time { return m.expiry(m.site) }

func (m *certManager) stop() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	m.cache.Stop()
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	var port int
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		return "", 0, fmt.Errorf("%q: bad port", addr)
	}
	return addr[:i], port, nil
}
