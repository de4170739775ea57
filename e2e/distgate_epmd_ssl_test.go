package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// remoteQuerySite starts a gateway that answers remote queries (mutual TLS)
// from client certificates of ca, and terminates TLS for its nodes; it
// returns the site and the remote query port.
func remoteQuerySite(t *testing.T, ca tlsFiles) (*gatewaySite, int) {
	t.Helper()
	s := newGatewaySite(t, "edge")
	remote := freePort(t)
	writeFile(t, s.config, fmt.Sprintf(`site: edge
data_dir: %s
epmd: {listen: "127.0.0.1:%d"}
admin: {listen: %q}
links: {off: true, names: [localhost, %q]}
public:
  address: 127.0.0.1
  export: ["*"]
  client_ca: %q
remote:
  listen: "127.0.0.1:%d"
  client_ca: %q
  allow:
    - {identity: localhost, nodes: ["*"]}
`, filepath.Join(s.dir, "data"), s.epmdPort, s.admin, shortHost(), ca.CA, remote, ca.CA))
	s.start(t)
	return s, remote
}

// TestDistgateEpmdRemoteVerifiesGateway: distgate_epmd checks the remote
// gateway's certificate even when the SSL options say nothing about
// verification (OTP 25's ssl would not), refuses a gateway its CA does not
// trust, and says clearly that a CA is missing when none is given. An
// explicit {verify, verify_none} is the only way to turn it off.
func TestDistgateEpmdRemoteVerifiesGateway(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	ca := makeTLSFiles(t)
	s, remote := remoteQuerySite(t, ca)
	target := startNode(t, s.epmdPort, "target")
	gatewayCA := filepath.Join(s.dir, "data", "identity.crt")
	stranger := makeTLSFiles(t) // a CA that did not sign the gateway's certificate

	for _, tc := range []struct {
		name, ssl string
		want      []string // in the caller's output
		reached   bool
		appEnv    bool // the settings in the application environment, not the flags
	}{
		{"trusted CA, verification by default", fmt.Sprintf("{cacertfile, %q}", gatewayCA),
			[]string{fmt.Sprintf("{pong,%s,{ok,{127,0,0,1},", target.name)}, true, false},
		// As Elixir writes them: binaries.
		{"trusted CA, in the application environment", fmt.Sprintf("{cacertfile, <<%q>>}", gatewayCA),
			[]string{fmt.Sprintf("{pong,%s,{ok,{127,0,0,1},", target.name)}, true, true},
		{"untrusted gateway, in the application environment", fmt.Sprintf("{cacertfile, <<%q>>}", stranger.CA),
			[]string{"{pang,", "unknown_ca"}, false, true},
		{"untrusted gateway", fmt.Sprintf("{cacertfile, %q}", stranger.CA),
			[]string{"{pang,", "unknown_ca"}, false, false},
		{"no CA", "",
			[]string{"{pang,", "remote_ssl", "no CA to verify the gateway"}, false, false},
		{"verification turned off explicitly", "{verify, verify_none}",
			[]string{fmt.Sprintf("{pong,%s,{ok,{127,0,0,1},", target.name)}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := fmt.Sprintf("{certfile, %q}, {keyfile, %q}", ca.Cert, ca.Key)
			if tc.appEnv {
				opts = fmt.Sprintf("{certfile, <<%q>>}, {keyfile, <<%q>>}", ca.Cert, ca.Key)
			}
			if tc.ssl != "" {
				opts += ", " + tc.ssl
			}
			remoteConf := filepath.Join(t.TempDir(), "remote.conf")
			writeFile(t, remoteConf, "["+opts+"].\n")
			args := append(withModule(t), "-proto_dist", "inet_tls", "-ssl_dist_optfile", tlsCallerConf(t, s, ca, true),
				"-dist_listen", "false", "-hidden")
			if tc.appEnv {
				args = append(args, "-distgate_epmd", "remote", fmt.Sprintf(`<<"localhost:%d">>`, remote), "-distgate_epmd", "remote_ssl", "["+opts+"]")
			} else {
				args = append(args, "-distgate_epmd_remote", fmt.Sprintf("localhost:%d", remote), "-distgate_epmd_ssl", remoteConf)
			}
			expr := fmt.Sprintf(`{net_adm:ping('%s'), rpc:call('%s', erlang, node, []), distgate_epmd:address_please("target", %q, inet)}`,
				target.name, target.name, shortHost())
			// The caller has no EPMD of its own: every lookup is remote.
			out, err := tryEvalErl(t, freePort(t), "caller", expr, args...)
			if err != nil {
				t.Fatalf("caller: %v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the caller's output lacks %q:\n%s", w, out)
				}
			}
			if reached := strings.Contains(out, "{pong,"); reached != tc.reached {
				t.Errorf("reached the target: %v, want %v:\n%s", reached, tc.reached, out)
			}
		})
	}
}
