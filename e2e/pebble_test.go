package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Pebble, Let's Encrypt's ACME test server, and its companion DNS server
// run as real processes, built from the versions go.mod pins as tools.

var pebbleBuild struct {
	sync.Once
	pebble, dns string
	err         error
}

func pebbleBins(t testing.TB) (pebble, dns string) {
	t.Helper()
	pebbleBuild.Do(func() {
		pebbleBuild.pebble = filepath.Join(binDir, "pebble")
		pebbleBuild.dns = filepath.Join(binDir, "pebble-challtestsrv")
		for out, pkg := range map[string]string{
			pebbleBuild.pebble: "github.com/letsencrypt/pebble/v2/cmd/pebble",
			pebbleBuild.dns:    "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv",
		} {
			cmd := exec.Command("go", "build", "-o", out, pkg)
			cmd.Dir = repoRoot()
			if b, err := cmd.CombinedOutput(); err != nil {
				pebbleBuild.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if pebbleBuild.err != nil {
		t.Fatal(pebbleBuild.err)
	}
	return pebbleBuild.pebble, pebbleBuild.dns
}

// pebbleCA is a running Pebble.
type pebbleCA struct {
	Directory string // the ACME directory URL
	Roots     string // PEM file that verifies Pebble's own HTTPS
	mgmt      string
	proc      *proc
	dns       string
	config    string
}

// startPebble runs Pebble, validating TLS-ALPN-01 on tlsPort, issuing
// certificates valid for validity, on the given listen port (0: any). Its
// DNS answers 127.0.0.1 for every name.
func startPebble(t testing.TB, tlsPort int, validity time.Duration, listenPort int) *pebbleCA {
	t.Helper()
	return startPebbleWith(t, freePort(t), tlsPort, validity, listenPort)
}

// startPebbleHTTP runs Pebble validating HTTP-01 on httpPort.
func startPebbleHTTP(t testing.TB, httpPort int) *pebbleCA {
	t.Helper()
	return startPebbleWith(t, httpPort, freePort(t), time.Hour, 0)
}

func startPebbleWith(t testing.TB, httpPort, tlsPort int, validity time.Duration, listenPort int) *pebbleCA {
	t.Helper()
	_, dnsBin := pebbleBins(t)
	dir := t.TempDir()
	// Pebble's own HTTPS certificate, from a CA the gateway is told to trust.
	files := makeTLSFiles(t)
	dnsAddr := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	dnsMgmt := "127.0.0.1:" + strconv.Itoa(freePort(t))
	startProc(t, nil, dnsBin, "-dnsserver", dnsAddr, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-doh", "", "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", dnsMgmt)
	waitListening(t, dnsMgmt, nil)
	if listenPort == 0 {
		listenPort = freePort(t)
	}
	p := &pebbleCA{
		Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", listenPort),
		Roots:     files.CA,
		mgmt:      "127.0.0.1:" + strconv.Itoa(freePort(t)),
		dns:       dnsAddr,
		config:    filepath.Join(dir, "pebble.json"),
	}
	writeFile(t, p.config, fmt.Sprintf(`{"pebble": {
  "listenAddress": "127.0.0.1:%d",
  "managementListenAddress": %q,
  "certificate": %q,
  "privateKey": %q,
  "httpPort": %d,
  "tlsPort": %d,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "retryAfter": {"authz": 1, "order": 1},
  "keyAlgorithm": "ecdsa",
  "profiles": {"default": {"description": "test", "validityPeriod": %d}}
}}`, listenPort, p.mgmt, files.Cert, files.Key, httpPort, tlsPort, int(validity.Seconds())))
	return p
}

// run starts the Pebble process (after startPebble, or again).
func (p *pebbleCA) run(t testing.TB) {
	t.Helper()
	pebbleBin, _ := pebbleBins(t)
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}
	p.proc = startProc(t, env, pebbleBin, "-config", p.config, "-dnsserver", p.dns)
	waitListening(t, p.mgmt, p.proc)
}

// issuingRoots fetches the roots Pebble signs certificates with.
func (p *pebbleCA) issuingRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.issuingRootsPEM(t))
	return pool
}

// issuingRootsPEM fetches the roots Pebble signs certificates with, as PEM.
func (p *pebbleCA) issuingRootsPEM(t testing.TB) []byte {
	t.Helper()
	roots, _ := os.ReadFile(p.Roots)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	var out []byte
	for i := 0; i < 4; i++ {
		resp, err := client.Get(fmt.Sprintf("https://%s/roots/%d", p.mgmt, i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			break
		}
		if blk, _ := pem.Decode(b); blk != nil {
			out = append(out, b...)
		}
	}
	return out
}

// freeUDPPort returns a loopback UDP port that is free now.
func freeUDPPort(t testing.TB) int { return pickPort(t, true) }

// serverCertOf connects with TLS to addr with SNI name and returns the
// certificate the server presents (whether or not the handshake completes).
func serverCertOf(t testing.TB, addr, name string) *x509.Certificate {
	t.Helper()
	chain := serverChainOf(t, addr, name)
	if len(chain) == 0 {
		return nil
	}
	return chain[0]
}

// serverChainOf returns the chain a TLS server presents for name.
func serverChainOf(t testing.TB, addr, name string) []*x509.Certificate {
	t.Helper()
	var got []*x509.Certificate
	conf := &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			got = cs.PeerCertificates
			return nil
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := (&tls.Dialer{Config: conf}).DialContext(ctx, "tcp", addr); err == nil {
		c.Close()
	}
	return got
}
