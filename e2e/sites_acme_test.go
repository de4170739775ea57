package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSiteACMEOneOrder: two edges of one site need a certificate for the
// same public name at once. Their certificates live in certmagic's storage
// on the site's etcd, with etcd's locks: exactly one order reaches the CA
// (a real Pebble), and both edges serve the one certificate. Pebble
// validates on one edge's port only; whichever edge orders, the other one
// answers the challenge from the shared storage (certmagic's distributed
// solving).
func TestSiteACMEOneOrder(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t, "127.0.0.1")
	links := []string{freeLinkAddr(t), freeLinkAddr(t)}
	ca := startPebble(t, mustAtoi(portOf(links[0])), time.Hour, 0) // configured, not running yet
	var edges []*gatewaySite
	for i, link := range links {
		s := newGatewaySite(t, "site-a")
		s.link = link
		writeFile(t, s.config, fmt.Sprintf(`site: site-a
role: edge
data_dir: %s
admin: {listen: %q}
links: {tls: %q}
cluster:
  endpoints: [%s]
  lease_ttl: 3s
  member: e%d
  address: 127.0.0.1
acme:
  names: [%s]
  ca: %q
  email: ops@acme.test
  trusted_roots: %q
  tls_alpn_port: %s
`, filepath.Join(s.dir, "data"), s.admin, link, strings.Join(etcd.endpoints(), ", "), i+1,
			acmeName, ca.Directory, ca.Roots, portOf(links[0])))
		edges = append(edges, s)
	}
	// Both at once: each asks for the certificate as it starts.
	for _, s := range edges {
		s.proc = startProc(t, nil, distgateBin(t), "run", "-config", s.config)
	}
	for _, s := range edges {
		waitListening(t, s.admin, s.proc)
	}
	// Both edges are up and have found the CA away; it starts, and their
	// retries race for the name's lock.
	for i, s := range edges {
		waitUntil(t, fmt.Sprintf("edge %d to find the CA away", i+1), 30, func() bool {
			return s.certStatus(t, acmeName).LastError != ""
		})
	}
	ca.run(t)
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range edges {
				t.Logf("edge %d log:\n%s", i+1, tail(s.proc.out.String(), 4000))
			}
			t.Logf("pebble log:\n%s", tail(ca.proc.out.String(), 4000))
		}
	})
	for i, s := range edges {
		waitUntil(t, fmt.Sprintf("edge %d's ACME certificate", i+1), 60, func() bool {
			return !s.certStatus(t, acmeName).NotAfter.IsZero()
		})
	}
	a, b := servedByPebble(t, ca, edges[0]), servedByPebble(t, ca, edges[1])
	if a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Fatalf("the edges serve two certificates: serials %v and %v", a.SerialNumber, b.SerialNumber)
	}
	if n := strings.Count(ca.proc.out.String(), "Added order"); n != 1 {
		t.Fatalf("%d orders reached the CA; want 1", n)
	}
}
