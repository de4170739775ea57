package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"

	"github.com/distgate/distgate/gateway/datadir"
)

// Manager obtains and renews the gateway's certificates through
// certmagic: the link certificate for the site name from the built-in
// issuer (always, synchronously at start), and certificates for public
// names from ACME (in the background: a CA that is down at start does not
// stop the gateway, which retries with backoff and says so).
type Manager struct {
	cache   *certmagic.Cache
	builtin *certmagic.Config
	acme    *certmagic.Config // nil without public names
	site    string
	public  map[string]bool
	log     *slog.Logger

	retryMin time.Duration
	retryMax time.Duration

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards state
	state map[string]*CertState
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

// Options are the inputs of NewManager.
type Options struct {
	DataDir string           // certmagic's storage is its certificates/
	Site    string           // the name of the built-in certificate
	Names   []string         // more names for the built-in certificate
	Builtin certmagic.Issuer // the built-in issuer (a *BuiltinIssuer)
	ACME    ACME             // public names; none: no ACME
	// ACMEStorage, when set, keeps the certificates of public names (and
	// their locks) instead of the data directory: the site directory's
	// storage on etcd, so that the gateways of a site order a name once.
	// The built-in certificate, signed by this gateway's own identity,
	// always stays in the data directory.
	ACMEStorage certmagic.Storage
	RenewCheck  time.Duration // how often certmagic checks renewals
	// RetryMin and RetryMax space the attempts to obtain a public name's
	// certificate while its CA fails: from RetryMin, doubling up to
	// RetryMax.
	RetryMin, RetryMax time.Duration
}

// ACME configures the certificates of public names.
type ACME struct {
	Names        []string       // DNS names to obtain certificates for
	CA           string         // the directory URL
	Email        string         // the account's contact
	TrustedRoots *x509.CertPool // verify the CA's own endpoint; nil: the system's
	// HTTPChallenge answers http-01 at HTTPHost:HTTPPort; otherwise
	// tls-alpn-01 is answered on the gateway's TLS listeners, the CA
	// connecting to TLSALPNPort.
	HTTPChallenge bool
	HTTPHost      string
	HTTPPort      int
	TLSALPNPort   int
	RenewalRatio  float64 // share of the life left at renewal; 1/3 when zero
}

// NewManager loads or obtains the built-in certificate (synchronously) and
// starts obtaining the ACME ones in the background; Close stops it.
func NewManager(ctx context.Context, o Options, log *slog.Logger) (*Manager, error) {
	m := &Manager{site: o.Site, public: map[string]bool{}, log: log, state: map[string]*CertState{},
		retryMin: o.RetryMin, retryMax: o.RetryMax}
	storage := &certmagic.FileStorage{Path: filepath.Join(o.DataDir, datadir.Certificates)}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			for _, n := range c.Names {
				if m.acme != nil && m.public[strings.ToLower(n)] {
					return m.acme, nil
				}
			}
			return m.builtin, nil
		},
		RenewCheckInterval: o.RenewCheck,
		Logger:             zap.NewNop(),
	})
	m.builtin = certmagic.New(m.cache, certmagic.Config{
		Storage: storage, Issuers: []certmagic.Issuer{o.Builtin}, Logger: zap.NewNop(), OnEvent: m.onEvent,
		// Names nothing is issued for get the site's certificate: the
		// client decides whether that will do.
		DefaultServerName: o.Site, FallbackServerName: o.Site,
	})
	names := append([]string{o.Site}, o.Names...)
	if err := m.builtin.ManageSync(ctx, names); err != nil {
		m.cache.Stop()
		return nil, fmt.Errorf("certificates for %v: %w", names, err)
	}
	if len(o.ACME.Names) == 0 {
		return m, nil
	}
	ratio := o.ACME.RenewalRatio
	if ratio == 0 {
		ratio = 1.0 / 3
	}
	acmeStorage := certmagic.Storage(storage)
	if o.ACMEStorage != nil {
		acmeStorage = o.ACMEStorage
	}
	m.acme = certmagic.New(m.cache, certmagic.Config{
		Storage: acmeStorage, Logger: zap.NewNop(), OnEvent: m.onEvent,
		RenewalWindowRatio: ratio,
	})
	// The issuer keeps its account and its challenges in the storage of
	// this configuration: with a site's shared storage, any edge of the
	// site answers a challenge another edge's order asked for.
	m.acme.Issuers = []certmagic.Issuer{m.acmeIssuer(m.acme, o.ACME)}
	for _, n := range o.ACME.Names {
		m.public[strings.ToLower(n)] = true
		m.state[n] = &CertState{Name: n, Issuer: "acme"}
	}
	// In the background: the gateway serves with what storage holds (or
	// the built-in certificate) meanwhile, and retries a CA that is down
	// with its own backoff, from seconds up to five minutes.
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	for _, n := range o.ACME.Names {
		m.wg.Add(1)
		go m.manage(bg, n)
	}
	return m, nil
}

// manage obtains (or loads) the certificate of a public name, retrying
// until it succeeds; from then on certmagic's maintenance renews it.
func (m *Manager) manage(ctx context.Context, name string) {
	defer m.wg.Done()
	wait := m.retryMin
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
		wait = min(2*wait, m.retryMax)
	}
}

func (m *Manager) acmeIssuer(cfg *certmagic.Config, c ACME) *certmagic.ACMEIssuer {
	tmpl := certmagic.ACMEIssuer{
		CA: c.CA, Email: c.Email, Agreed: true, Logger: zap.NewNop(),
		DisableHTTPChallenge:    !c.HTTPChallenge,
		DisableTLSALPNChallenge: c.HTTPChallenge,
		AltTLSALPNPort:          c.TLSALPNPort,
		TrustedRoots:            c.TrustedRoots,
	}
	if c.HTTPChallenge {
		tmpl.ListenHost, tmpl.AltHTTPPort = c.HTTPHost, c.HTTPPort
	}
	return certmagic.NewACMEIssuer(cfg, tmpl)
}

// onEvent logs certmagic's events and keeps each name's state for the
// status.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
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

// GetCertificate serves a TLS handshake: ACME challenges and public names
// from the ACME configuration, everything else with the site's
// certificate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
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

// GetClientCertificate presents the site's certificate: to a peer
// gateway, and to a node's TLS port.
func (m *Manager) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
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

// States reports every managed certificate.
func (m *Manager) States() []CertState {
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
func (m *Manager) expiry(name string) time.Time {
	var end time.Time
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && c.Leaf.NotAfter.After(end) {
			end = c.Leaf.NotAfter
		}
	}
	return end
}

// SiteExpiry is when the site's certificate ends.
func (m *Manager) SiteExpiry() time.Time { return m.expiry(m.site) }

// Close stops obtaining and renewing certificates, and waits for it.
func (m *Manager) Close() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	m.cache.Stop()
}
