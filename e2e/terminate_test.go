package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
)

// edgeSite starts a gateway whose public EPMD (on loopback, for the test)
// exports every node, with TLS termination requiring client certificates
// signed by the test CA.
func edgeSite(t *testing.T, ca tlsFiles, extra string) (*gatewaySite, int) {
	t.Helper()
	s := newGatewaySite(t, "edge")
	s.host = "localhost"
	public := freePort(t)
	cfg := fmt.Sprintf(`site: edge
data_dir: %s
epmd: {listen: "127.0.0.1:%d"}
admin: {listen: %q}
links: {off: true, names: [localhost, %q]}
public:
  epmd: "127.0.0.1:%d"
  export: ["*"]
  client_ca: %q
%s`, filepath.Join(s.dir, "data"), s.epmdPort, s.admin, shortHost(), public, ca.CA, extra)
	writeFile(t, s.config, cfg)
	s.start(t)
	return s, public
}

// tlsCallerConf writes an ssl_dist_optfile for a caller that trusts the
// gateway's identity CA and presents the test CA's certificate (or none).
func tlsCallerConf(t *testing.T, s *gatewaySite, ca tlsFiles, withCert bool) string {
	t.Helper()
	client := fmt.Sprintf(`{verify, verify_peer}, {cacertfile, %q}`, filepath.Join(s.dir, "data", "identity.crt"))
	if withCert {
		client += fmt.Sprintf(`, {certfile, %q}, {keyfile, %q}`, ca.Cert, ca.Key)
	}
	conf := fmt.Sprintf("[{server, [{certfile, %q}, {keyfile, %q}]},\n {client, [%s]}].\n", ca.Cert, ca.Key, client)
	path := filepath.Join(t.TempDir(), "caller.conf")
	writeFile(t, path, conf)
	return path
}

// TestTLSTermination: a node speaking OTP's inet_tls_dist finds a plain
// TCP node through the public EPMD and reaches it through the gateway,
// which terminates TLS and rewrites the handshake framing; rpc:call and
// 50 MB arrive intact. Without a client certificate it is refused.
func TestTLSTermination(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	ca := makeTLSFiles(t)
	s, public := edgeSite(t, ca, "")
	startNode(t, s.epmdPort, "y")
	callerArgs := func(conf string) []string {
		return []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", conf, "-dist_listen", "false", "-hidden"}
	}
	expr := `
		Y = 'y@` + shortHost() + `',
		pong = net_adm:ping(Y),
		Y = rpc:call(Y, erlang, node, []),
		Bin = crypto:strong_rand_bytes(50 * 1024 * 1024),
		Sum = erlang:md5(Bin),
		Sum = rpc:call(Y, erlang, md5, [Bin], 120000),
		{ok, byte_size(Bin)}`
	out, err := tryEvalErlWithin(t, bulkEvalTimeout, public, "x", expr, callerArgs(tlsCallerConf(t, s, ca, true))...)
	if err != nil || out != fmt.Sprintf("{ok,%d}", 50<<20) {
		t.Fatalf("TLS caller: %v\n%s\ngateway:\n%s", err, out, s.proc.out)
	}
	if st := s.status(t); !strings.Contains(st, "tls-terminated") && !strings.Contains(s.proc.out.String(), "TLS port opened") {
		t.Fatalf("no trace of the termination:\n%s", st)
	}
	out, _ = tryEvalErl(t, public, "nocert", `net_adm:ping('y@`+shortHost()+`')`, callerArgs(tlsCallerConf(t, s, ca, false))...)
	// (OTP may log the TLS alert before or after the result)
	if lines := strings.Split(out, "\n"); !slices.Contains(lines, "pang") || slices.Contains(lines, "pong") {
		t.Fatalf("a caller without a client certificate: %s", out)
	}
	// The gateway logs the refusal as the handshake fails, about when
	// the caller gives up: a loaded machine may run its log's writer
	// later.
	waitUntil(t, "the refusal in the log", 30, func() bool {
		return strings.Contains(s.proc.out.String(), "client certificate is required")
	})
}

// TestPublicEPMDLockedDown: the public EPMD answers PORT_PLEASE2 for
// exported names only, refuses NAMES (off), registration, DUMP, KILL and
// STOP, limits each address's rate, and logs every refusal.
func TestPublicEPMDLockedDown(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl", "epmd")
	ca := makeTLSFiles(t)
	s := newGatewaySite(t, "edge")
	public := freePort(t)
	writeFile(t, s.config, fmt.Sprintf(`site: edge
data_dir: %s
epmd: {listen: "127.0.0.1:%d"}
admin: {listen: %q}
links: {off: true}
public:
  epmd: "127.0.0.1:%d"
  export: ["web*"]
  client_ca: %q
  rate: 5
  burst: 10
`, filepath.Join(s.dir, "data"), s.epmdPort, s.admin, public, ca.CA))
	s.start(t)
	startNode(t, s.epmdPort, "web1")
	startNode(t, s.epmdPort, "secret")

	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(public), Timeout: 2 * time.Second}
	p, err := c.PortPlease(t.Context(), "web1")
	if err != nil || p == nil || p.Port == 0 {
		t.Fatalf("exported web1: %+v %v", p, err)
	}
	var real *epmd.PortInfo
	real, _ = s.epmdClient().PortPlease(t.Context(), "web1")
	if real == nil || p.Port == real.Port {
		t.Fatalf("the public answer %d is not a TLS termination port (node port %+v)", p.Port, real)
	}
	if p, err := c.PortPlease(t.Context(), "secret"); p != nil || err != nil {
		t.Fatalf("non-exported secret: %+v %v", p, err)
	}
	env := []string{"ERL_EPMD_PORT=" + strconv.Itoa(public)}
	if out, _, code := runCmd(t, env, "epmd", "-names"); code != 1 || out != "epmd: no response from local epmd\n" {
		t.Fatalf("epmd -names on the public port: %d %q", code, out)
	}
	if out, _, code := runCmd(t, env, "epmd", "-kill"); code != 1 || !strings.HasPrefix(out, "epmd: local epmd responded with <") {
		t.Fatalf("epmd -kill on the public port: %d %q", code, out)
	}
	for _, raw := range [][]byte{frame([]byte("d")), frame([]byte("sweb1")), frame(alive2("intruder", 6, nil))} {
		if reply, _ := rawExchange(t, public, raw, time.Second); len(reply) != 0 {
			t.Fatalf("%q answered %q", raw, reply)
		}
	}
	if p, _ := s.epmdClient().PortPlease(t.Context(), "intruder"); p != nil {
		t.Fatal("a registration through the public EPMD went through")
	}
	if p, _ := s.epmdClient().PortPlease(t.Context(), "web1"); p == nil {
		t.Fatal("web1 lost its registration")
	}
	// A burst past the limit: some connections are closed unread.
	refused := 0
	for range 40 {
		if reply, _ := rawExchange(t, public, frame([]byte("zweb1")), time.Second); len(reply) == 0 {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("40 requests at once were all answered: no rate limit")
	}
	log := s.proc.out.String()
	for _, want := range []string{"NAMES is off", "PORT_PLEASE2 secret: not exported", "what=registration", "what=DUMP", "what=KILL", "what=STOP", "rate limit"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not mention %q", want)
		}
	}
	if t.Failed() {
		t.Logf("gateway log:\n%s", log)
	}
}

// TestRemoteLookupFromErlang: a node that runs inet_tls_dist and
// distgate_epmd pointed at a remote gateway looks a node up by its full
// name over mutual TLS (Erlang's ssl), gets the gateway's TLS termination
// port, and reaches the node through it.
func TestRemoteLookupFromErlang(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	ca := makeTLSFiles(t)
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
	target := startNode(t, s.epmdPort, "target")
	remoteConf := filepath.Join(t.TempDir(), "remote.conf")
	writeFile(t, remoteConf, fmt.Sprintf("[{certfile, %q}, {keyfile, %q}, {cacertfile, %q}, {verify, verify_peer}].\n",
		ca.Cert, ca.Key, filepath.Join(s.dir, "data", "identity.crt")))
	args := append(withModule(t), "-proto_dist", "inet_tls", "-ssl_dist_optfile", tlsCallerConf(t, s, ca, true),
		"-dist_listen", "false", "-hidden",
		"-distgate_epmd_remote", fmt.Sprintf("localhost:%d", remote), "-distgate_epmd_ssl", remoteConf)
	// The caller has no EPMD of its own: an unused port proves it.
	out, err := tryEvalErl(t, freePort(t), "caller", fmt.Sprintf(`{net_adm:ping('%[1]s'), rpc:call('%[1]s', erlang, node, [])}`, target.name), args...)
	if err != nil || out != fmt.Sprintf("{pong,%s}", target.name) {
		t.Fatalf("caller: %v\n%s\ngateway:\n%s", err, out, s.proc.out)
	}
}
