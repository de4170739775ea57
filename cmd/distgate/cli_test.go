package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/internal/freeport"
)

// freeAddr returns a loopback address with a TCP port free now, from
// below the ephemeral range (see internal/freeport): a gateway binds it
// later.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := freeport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// writeConfig writes a gateway configuration into dir, with its own
// data_dir (relative to the file), EPMD and admin API, links off, and
// the YAML in extra appended.
func writeConfig(t *testing.T, dir, site, admin, extra string) string {
	t.Helper()
	file := filepath.Join(dir, site+".yaml")
	yml := fmt.Sprintf("site: %s\ndata_dir: ./%s-data\nepmd: {listen: %s}\nadmin: {listen: %s}\nlinks: {off: true}\n%s", site, site, freeAddr(t), admin, extra)
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// startGateway runs a gateway in this process from a configuration file.
func startGateway(t *testing.T, file string) *gateway.Gateway {
	t.Helper()
	cfg, err := gateway.LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), cfg, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// TestAdminCommandsTakeConfig: status and policy find a gateway that runs
// on its own admin port and data_dir through -config, and when they cannot,
// their errors say to give it.
func TestAdminCommandsTakeConfig(t *testing.T) {
	t.Setenv("DISTGATE_TOKEN", "")
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the default data dir holds no token
	dir := t.TempDir()
	file := writeConfig(t, dir, "site-c", freeAddr(t), "")
	startGateway(t, file)
	if code, out, errOut := run("distgate", "status", "-config", file); code != 0 || !strings.HasPrefix(out, "site site-c ") {
		t.Errorf("status -config: exit %d, %q, %q", code, out, errOut)
	}
	if code, out, errOut := run("distgate", "policy", "list", "-config", file); code != 0 || !strings.HasPrefix(out, "POLICY") {
		t.Errorf("policy list -config: exit %d, %q, %q", code, out, errOut)
	}
	// Without -config: the default data dir has no token.
	for _, args := range [][]string{{"status"}, {"policy", "list"}} {
		code, _, errOut := run(append([]string{"distgate"}, args...)...)
		if code != 1 || !strings.Contains(errOut, "admin token") || !strings.Contains(errOut, "-config FILE") {
			t.Errorf("%v without a token: exit %d, %q; want a hint at -config", args, code, errOut)
		}
	}
	// A token but no gateway on the admin port.
	down := writeConfig(t, dir, "site-d", freeAddr(t), "")
	data := filepath.Join(dir, "site-d-data")
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "admin.token"), []byte("x\n"), 0o600)
	if code, _, errOut := run("distgate", "status", "-config", down); code != 1 || !strings.Contains(errOut, "connection refused") || !strings.Contains(errOut, "-config FILE") {
		t.Errorf("status, gateway down: exit %d, %q; want a hint at -config", code, errOut)
	}
}

// TestIDWithPlaceholderPeer: `distgate id -config` prints the identity of
// the file's data_dir even while a peer's identity is still a placeholder,
// and warns about it; `run` still refuses the file.
func TestIDWithPlaceholderPeer(t *testing.T) {
	dir := t.TempDir()
	file := writeConfig(t, dir, "site-b", freeAddr(t), "peers:\n  - {site: site-a, quic: gw.site-a.example:4371, identity: dg1:...}\n")
	code, out, errOut := run("distgate", "id", "-config", file)
	if code != 0 || !strings.Contains(errOut, "warning: ") || !strings.Contains(errOut, "peers[0].identity") {
		t.Fatalf("id -config: exit %d, %q, %q", code, out, errOut)
	}
	id, err := pki.LoadOrCreateIdentity(filepath.Join(dir, "site-b-data"), "site-b", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != id.ID.String() {
		t.Errorf("id -config printed %s, the data_dir's identity is %s", got, id.ID)
	}
	if code, _, errOut := run("distgate", "run", "-config", file); code != 2 || !strings.Contains(errOut, "peers[0].identity") {
		t.Errorf("run with the placeholder: exit %d, %q", code, errOut)
	}
	// A file that is not YAML is still an error.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("site: [\n"), 0o600)
	if code, out, _ := run("distgate", "id", "-config", bad); code != 2 || out != "" {
		t.Errorf("id -config on broken YAML: exit %d, %q", code, out)
	}
}

// TestRunRefusesSharedDataDir: a second gateway on the data_dir of a
// running one stops at once and says why.
func TestRunRefusesSharedDataDir(t *testing.T) {
	dir := t.TempDir()
	// Its admin port is taken too, so that a gateway which did not check
	// the data dir would fail (rather than run) here.
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	file := writeConfig(t, dir, "site-e", held.Addr().String(), "")
	unlock, err := lockDataDir(filepath.Join(dir, "site-e-data"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	code, _, errOut := run("distgate", "run", "-config", file)
	if code != 1 || !strings.Contains(errOut, "is in use by another gateway (process "+strconv.Itoa(os.Getpid())+")") {
		t.Errorf("run on a data_dir in use: exit %d, %q", code, errOut)
	}
	unlock()
	// Free again: now the admin port is what stops it, and it says so.
	code, _, errOut = run("distgate", "run", "-config", file)
	if code != 1 || !strings.Contains(errOut, "admin.listen") || !strings.Contains(errOut, "two gateways on one host need their own") {
		t.Errorf("run on a taken admin port: exit %d, %q", code, errOut)
	}
}

// TestEpmdPortTaken: `distgate epmd` on a taken port exits 0 without a
// word, as the stock epmd does (README, "The EPMD").
func TestEpmdPortTaken(t *testing.T) {
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := strconv.Itoa(held.Addr().(*net.TCPAddr).Port)
	if code, out, errOut := run("distgate", "epmd", "-port", port); code != 0 || out != "" || errOut != "" {
		t.Errorf("epmd -port %s (taken): exit %d, %q, %q", port, code, out, errOut)
	}
}

// TestNamesOneForm: classic and extension registrations are listed the
// same way: the name, then the host the node told (none for ALIVE2).
func TestNamesOneForm(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := epmd.NewServer(epmd.Config{Port: port})
	go srv.Serve(ln)
	defer srv.Close()
	c := &epmd.Client{Addr: ln.Addr().String(), Timeout: 5 * time.Second}
	ctx := context.Background()
	a, err := c.Register(ctx, epmd.Alive2{Port: 5001, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d, err := c.RegisterX(ctx, epmd.Registration{Name: "d", Host: "vm", Transports: []epmd.Transport{{Proto: "inet_tcp", Family: epmd.FamilyInet, Port: 5002, HighVsn: 6, LowVsn: 6}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	code, out, errOut := run("distgate", "names", "-port", strconv.Itoa(port))
	if code != 0 {
		t.Fatalf("names: exit %d, %q", code, errOut)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	if r := rows["a"]; len(r) < 4 || r[1] != "-" || r[3] != "inet_tcp:5001" {
		t.Errorf("classic node: %q in\n%s", r, out)
	}
	if r := rows["d"]; len(r) < 4 || r[1] != "vm" || r[3] != "inet_tcp:5002" {
		t.Errorf("extension node: %q in\n%s", r, out)
	}
	if len(rows) != 2 {
		t.Errorf("want the rows a and d:\n%s", out)
	}
}
