package e2e

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/gateway/pki"
)

const acmeName = "gw.acme.test"

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return port
}

// certStatus reads the state of the ACME certificate from `distgate status`.
func (s *gatewaySite) certStatus(t testing.TB, name string) pki.CertState {
	t.Helper()
	out, errOut, code := runCmd(t, nil, distgateBin(t), "status", "-json", "-config", s.config)
	if code != 0 {
		t.Fatalf("status: %s\ngateway log:\n%s", errOut, s.proc.out)
	}
	var st gateway.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, c := range st.Certs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("status has no certificate %s: %+v", name, st.Certs)
	return pki.CertState{}
}

// TestACMEIssuanceAndRenewal: a gateway with a public name obtains its
// certificate from a real ACME server (Pebble) by TLS-ALPN-01 on its own
// TLS listener, serves it for that name, and renews it before it ends.
func TestACMEIssuanceAndRenewal(t *testing.T) {
	t.Parallel()
	link := freeLinkAddr(t)
	ca := startPebble(t, mustAtoi(portOf(link)), 30*time.Second, 0)
	ca.run(t)
	gw := acmeSiteAt(t, ca, link)
	var first pki.CertState
	waitUntil(t, "the ACME certificate", 60, func() bool {
		first = gw.certStatus(t, acmeName)
		return !first.NotAfter.IsZero()
	})
	leaf := servedByPebble(t, ca, gw)
	// The site's own name keeps the built-in certificate.
	if own := serverCertOf(t, gw.link, "edge"); own == nil || !strings.HasPrefix(own.Issuer.CommonName, "distgate ") {
		t.Fatalf("the site name is not served by the built-in issuer")
	}
	// Renewal: a third of the way before the end, the certificate changes.
	waitUntil(t, "a renewal", 60, func() bool {
		st := gw.certStatus(t, acmeName)
		return st.NotAfter.After(first.NotAfter) && st.Renewals > 0
	})
	if renewed := serverCertOf(t, gw.link, acmeName); renewed == nil || renewed.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("the renewed certificate is not served")
	}
	if !strings.Contains(gw.proc.out.String(), "certificate obtained") {
		t.Fatalf("no log of the issuance:\n%s", gw.proc.out)
	}
}

// acmeSiteAt starts an ACME gateway whose link TLS listener is link.
func acmeSiteAt(t testing.TB, ca *pebbleCA, link string) *gatewaySite {
	t.Helper()
	return acmeSite(t, ca, link, fmt.Sprintf("  tls_alpn_port: %s\n  renewal_ratio: 0.5\n  renew_check: 1s\n", portOf(link)))
}

// acmeSite starts a gateway with one ACME name, its TLS link listener on
// link, and challenge, the YAML lines that say how to answer the CA.
func acmeSite(t testing.TB, ca *pebbleCA, link, challenge string) *gatewaySite {
	t.Helper()
	s := newGatewaySite(t, "edge")
	s.link = link
	writeFile(t, s.config, fmt.Sprintf(`site: edge
data_dir: %s
epmd: {listen: "127.0.0.1:%d"}
admin: {listen: %q}
links: {tls: %q}
acme:
  names: [%s]
  ca: %q
  email: ops@acme.test
  trusted_roots: %q
%s`, filepath.Join(s.dir, "data"), s.epmdPort, s.admin, link, acmeName, ca.Directory, ca.Roots, challenge))
	s.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", tail(s.proc.out.String(), 6000))
			if ca.proc != nil {
				t.Logf("pebble log:\n%s", tail(ca.proc.out.String(), 4000))
			}
		}
	})
	return s
}

// intermediatesOf is a pool of what the server sends after its leaf.
func intermediatesOf(t testing.TB, s *gatewaySite, name string) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range serverChainOf(t, s.link, name)[1:] {
		pool.AddCert(c)
	}
	return pool
}

// TestACMECADownAtStart: with the CA down, the gateway starts and serves
// (its EPMD answers, the site certificate serves), says so in its log and
// status, and obtains the certificate once the CA is up, without a restart.
func TestACMECADownAtStart(t *testing.T) {
	t.Parallel()
	link := freeLinkAddr(t)
	ca := startPebble(t, mustAtoi(portOf(link)), time.Hour, 0) // configured, not running
	gw := acmeSiteAt(t, ca, link)
	if _, err := gw.epmdClient().NamesX(t.Context()); err != nil {
		t.Fatalf("the EPMD does not answer while the CA is down: %v", err)
	}
	var st pki.CertState
	waitUntil(t, "the failure in the status", 30, func() bool {
		st = gw.certStatus(t, acmeName)
		return st.LastError != ""
	})
	if !st.NotAfter.IsZero() || st.NextTry.IsZero() {
		t.Fatalf("status while the CA is down: %+v", st)
	}
	if !strings.Contains(gw.proc.out.String(), "retrying") {
		t.Fatalf("the log does not say it retries:\n%s", gw.proc.out)
	}
	ca.run(t)
	waitUntil(t, "the certificate once the CA is up", 60, func() bool {
		st = gw.certStatus(t, acmeName)
		return !st.NotAfter.IsZero() && st.LastError == ""
	})
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscanf(s, "%d", &n)
	return n
}

// TestACMERotationUnderTraffic: site B links to site A over TLS, trusting
// A's ACME certificate by the CA's roots; a relayed connection carries
// traffic while A's certificate is renewed, and nothing is lost or cut.
func TestACMERotationUnderTraffic(t *testing.T) {
	t.Parallel()
	aLink := freeLinkAddr(t)
	ca := startPebble(t, mustAtoi(portOf(aLink)), 20*time.Second, 0)
	ca.run(t)
	roots := filepath.Join(t.TempDir(), "acme-roots.pem")
	writeFile(t, roots, string(ca.issuingRootsPEM(t)))

	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	a.link = aLink
	a.writeConfig(t, "tls", 10*time.Second, b)
	a.extra = fmt.Sprintf(`acme:
  names: [%s]
  ca: %q
  trusted_roots: %q
  tls_alpn_port: %s
  renewal_ratio: 0.5
  renew_check: 1s
`, acmeName, ca.Directory, ca.Roots, portOf(aLink))
	a.writeConfig(t, "tls", 10*time.Second, b)
	b.writeConfig(t, "tls", 10*time.Second, a)
	// B trusts A by the ACME CA and A's public name, not by identity.
	cfg := readFile(t, b.config)
	cfg = strings.Replace(cfg, "identity: "+a.id, fmt.Sprintf("ca: %q\n    server_name: %s", roots, acmeName), 1)
	writeFile(t, b.config, cfg)
	a.start(t)
	var first pki.CertState
	waitUntil(t, "A's ACME certificate", 60, func() bool {
		first = a.certStatus(t, acmeName)
		return !first.NotAfter.IsZero()
	})
	b.start(t)
	echoNode(t, a, "echo")

	eps, err := b.epmdClient().Lookup(t.Context(), lookupReq("echo@"+a.host))
	if err != nil {
		t.Fatalf("lookup through B: %v\n%s", err, b.proc.out)
	}
	conn, err := openRelay(eps, "pump@"+b.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rounds := 0
	for deadline := time.Now().Add(60 * time.Second); ; rounds++ {
		if err := echoRound(conn, 256<<10); err != nil {
			t.Fatalf("round %d through the relay: %v\nsite A:\n%s\nsite B:\n%s", rounds, err, a.proc.out, b.proc.out)
		}
		st := a.certStatus(t, acmeName)
		if st.Renewals > 0 && st.NotAfter.After(first.NotAfter) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no renewal within 60 s")
		}
	}
	for range 5 { // and after the rotation, on the same connection
		if err := echoRound(conn, 256<<10); err != nil {
			t.Fatalf("after the rotation: %v", err)
		}
	}
	// A new relay after the rotation works too.
	conn2, err := openRelay(eps, "fresh@"+b.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if err := echoRound(conn2, 1<<20); err != nil {
		t.Fatalf("a new relay after the rotation: %v", err)
	}
	t.Logf("%d rounds of 256 KiB each way through the rotation", rounds)
}

// TestACMEHTTP01: with challenge http-01 the gateway answers the CA on its
// HTTP address instead of its TLS listener.
func TestACMEHTTP01(t *testing.T) {
	t.Parallel()
	httpPort := freePort(t)
	ca := startPebbleHTTP(t, httpPort)
	ca.run(t)
	s := acmeSite(t, ca, freeLinkAddr(t), fmt.Sprintf("  challenge: http-01\n  http_address: \"127.0.0.1:%d\"\n", httpPort))
	waitUntil(t, "the certificate by http-01", 60, func() bool {
		return !s.certStatus(t, acmeName).NotAfter.IsZero()
	})
	servedByPebble(t, ca, s)
}

// servedByPebble checks that the gateway serves, for the ACME name, a
// certificate that verifies against Pebble's roots, and returns it.
func servedByPebble(t testing.TB, ca *pebbleCA, s *gatewaySite) *x509.Certificate {
	t.Helper()
	leaf := serverCertOf(t, s.link, acmeName)
	if leaf == nil {
		t.Fatal("no certificate served for the ACME name")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.issuingRoots(t), DNSName: acmeName, Intermediates: intermediatesOf(t, s, acmeName)}); err != nil {
		t.Fatalf("the served certificate does not verify against Pebble's roots: %v", err)
	}
	return leaf
}
