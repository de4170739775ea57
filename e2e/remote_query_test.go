package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// remoteSite starts a gateway that serves remote queries over TLS and on
// its QUIC link port, for client certificates of ca: "ops" may list and
// see everything, "app" may look up web nodes only.
func remoteSite(t *testing.T, ca *testCA) (*gatewaySite, string) {
	t.Helper()
	s := newGatewaySite(t, "edge")
	remote := "127.0.0.1:" + strconv.Itoa(freePort(t))
	writeFile(t, s.config, fmt.Sprintf(`site: edge
data_dir: %s
epmd: {listen: "127.0.0.1:%d"}
admin: {listen: %q}
links: {quic: %q, names: [localhost]}
remote:
  listen: %q
  client_ca: %q
  allow:
    - {identity: ops, nodes: ["*"], list: true}
    - {identity: app, nodes: ["web*"]}
`, filepath.Join(s.dir, "data"), s.epmdPort, s.admin, s.link, remote, ca.File))
	s.start(t)
	return s, remote
}

// TestRemoteQueries: names and lookups over mutual TLS and over QUIC, with
// good, missing, expired, wrongly signed and policy-denied certificates.
func TestRemoteQueries(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "clients")
	other := newTestCA(t, "stranger")
	s, remote := remoteSite(t, ca)
	startNode(t, s.epmdPort, "web1")
	startNode(t, s.epmdPort, "db1")
	gwCA := filepath.Join(s.dir, "data", "identity.crt")
	opsCert, opsKey := ca.issue(t, "ops", time.Now().Add(time.Hour))
	appCert, appKey := ca.issue(t, "app", time.Now().Add(time.Hour))
	oldCert, oldKey := ca.issue(t, "ops", time.Now().Add(-time.Hour))
	strangerCert, strangerKey := other.issue(t, "ops", time.Now().Add(time.Hour))

	query := func(verb, target, cert, key string, quic bool) (string, string, int) {
		addr := remote
		if quic {
			addr = s.link
		}
		args := []string{verb}
		if target != "" {
			args = append(args, target)
		}
		args = append(args, "-remote", addr, "-ca", gwCA, "-server-name", "localhost")
		if cert != "" {
			args = append(args, "-cert", cert, "-key", key)
		}
		if quic {
			args = append(args, "-quic")
		}
		return runCmd(t, nil, distgateBin(t), args...)
	}
	for _, quic := range []bool{false, true} {
		via := map[bool]string{false: "tls", true: "quic"}[quic]
		out, errOut, code := query("names", "", opsCert, opsKey, quic)
		if code != 0 || !strings.Contains(out, "name web1 at port ") || !strings.Contains(out, "name db1 at port ") {
			t.Errorf("%s: ops names: %d %s%s", via, code, out, errOut)
		}
		out, errOut, code = query("lookup", "web1@localhost", appCert, appKey, quic)
		if code != 0 || !strings.Contains(out, "inet_tcp:127.0.0.1:") {
			t.Errorf("%s: app lookup web1: %d %s%s", via, code, out, errOut)
		}
		_, errOut, code = query("lookup", "db1@localhost", appCert, appKey, quic)
		if code != 1 || !strings.Contains(errOut, "denied: identity app may not look up db1@localhost") {
			t.Errorf("%s: app lookup db1: %d %s", via, code, errOut)
		}
		_, errOut, code = query("names", "", appCert, appKey, quic)
		if code != 1 || !strings.Contains(errOut, "denied: identity app may not list names") {
			t.Errorf("%s: app names: %d %s", via, code, errOut)
		}
		// Refused at the handshake: expired, wrongly signed, none.
		for _, tc := range []struct{ name, cert, key string }{
			{"expired", oldCert, oldKey}, {"wrongly signed", strangerCert, strangerKey},
		} {
			out, errOut, code := query("names", "", tc.cert, tc.key, quic)
			if code != 1 || strings.Contains(out, "web1") || strings.Contains(errOut, "web1") {
				t.Errorf("%s: %s certificate: %d %s%s", via, tc.name, code, out, errOut)
			}
		}
		if _, errOut, code := query("names", "", "", "", quic); code != 2 || !strings.Contains(errOut, "needs a client certificate") {
			t.Errorf("%s: no certificate: %d %s", via, code, errOut)
		}
	}
	log := s.proc.out.String()
	for _, want := range []string{"remote query port: connection refused", "remote lookup refused", "remote names refused"} {
		if !strings.Contains(log, want) {
			t.Errorf("the gateway log does not say %q", want)
		}
	}
}
