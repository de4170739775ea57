package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// plantedToken is an admin token someone else wrote: whoever planted it
// knows it.
const plantedToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"

// bareConfig writes a gateway configuration with its own EPMD and admin
// ports, links off, and dataDir as data_dir ("" leaves it to the
// default); it returns the file, the admin address and the EPMD port.
func bareConfig(t *testing.T, dir, dataDir string) (file, admin string, epmdPort int) {
	t.Helper()
	admin = "127.0.0.1:" + strconv.Itoa(freePort(t))
	epmdPort = freePort(t)
	yml := fmt.Sprintf("site: files\nepmd: {listen: 127.0.0.1:%d}\nadmin: {listen: %s}\nlinks: {off: true}\n", epmdPort, admin)
	if dataDir != "" {
		yml += "data_dir: " + dataDir + "\n"
	}
	file = filepath.Join(dir, "distgate.yaml")
	if err := os.WriteFile(file, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, admin, epmdPort
}

// runRefused runs `distgate run -config file` with exactly env (as env -i
// would) and, when cred is set, as that user. The gateway must refuse to
// start: it fails the test if the admin API comes up, and returns the
// exit code and what was printed.
func runRefused(t *testing.T, env []string, cred *syscall.Credential, bin, file, admin string) (code int, out string) {
	t.Helper()
	cmd := exec.Command(bin, "run", "-config", file)
	cmd.Env = env
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var buf syncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	// A binary copied just now may still be open for writing in a child
	// another test forked meanwhile (until it execs): ETXTBSY for a moment.
	for try := 0; ; try++ {
		err := cmd.Start()
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ETXTBSY) || try == 50 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		c := exec.Command(cmd.Path, cmd.Args[1:]...)
		c.Env, c.SysProcAttr, c.Stdout, c.Stderr = cmd.Env, cmd.SysProcAttr, cmd.Stdout, cmd.Stderr
		cmd = c
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode(), buf.String()
			}
			t.Fatalf("distgate run exited with %v, want a refusal:\n%s", err, buf.String())
		case <-time.After(50 * time.Millisecond):
		}
		if c, err := net.DialTimeout("tcp", admin, time.Second); err == nil {
			c.Close()
			cmd.Process.Kill()
			<-done
			t.Fatalf("distgate run started (its admin API answers on %s), want a refusal:\n%s", admin, buf.String())
		}
	}
	cmd.Process.Kill()
	<-done
	t.Fatalf("distgate run neither started nor refused in 20 s:\n%s", buf.String())
	return 0, ""
}

// TestRunRefusesUnsafeDataDir: `distgate run` as a systemd unit would
// start it (env -i: no HOME, no XDG_STATE_HOME) refuses a data directory
// that another local user could have prepared or could read from: a
// planted world-readable admin token, a 0777 directory to put the identity
// key in, a directory or key another user owns, a readable run.lock, a
// writable compiled-policy cache, a parent anyone may write. It names the
// path and the command that fixes it, and leaves nothing listening.
func TestRunRefusesUnsafeDataDir(t *testing.T) {
	t.Parallel()
	bin := distgateBin(t)
	// A planted key is a good one: the gateway would use it.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	write := func(rel string, perm os.FileMode) func(t *testing.T, data string) string {
		return func(t *testing.T, data string) string {
			p := filepath.Join(data, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			content := []byte(plantedToken)
			if filepath.Base(p) == "identity.key" {
				content = keyPEM
			}
			if err := os.WriteFile(p, content, perm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, perm); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	chmod := func(rel string, perm os.FileMode) func(t *testing.T, data string) string {
		return func(t *testing.T, data string) string {
			p := filepath.Join(data, rel)
			if err := os.Chmod(p, perm); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	chown := func(rel string) func(t *testing.T, data string) string {
		return func(t *testing.T, data string) string {
			p := filepath.Join(data, rel)
			if rel != "" {
				write(rel, 0o600)(t, data)
			}
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	for _, tc := range []struct {
		name   string
		asRoot bool // planting another user's file needs root
		plant  func(t *testing.T, data string) string
		fix    string
	}{
		{"planted world-readable admin.token", false, write("admin.token", 0o644), "to fix: rm "},
		{"0777 data dir", false, chmod("", 0o777), "to fix: chmod 700 "},
		{"group-readable identity.key", false, write("identity.key", 0o640), "to fix: chmod 600 "},
		{"readable run.lock", false, write("run.lock", 0o644), "to fix: chmod 600 "},
		{"group-writable compiled-policy cache", false, func(t *testing.T, data string) string {
			write("cache/wazero/code", 0o600)(t, data)
			return chmod("cache", 0o770)(t, data)
		}, "to fix: chmod go-w "},
		{"world-writable parent", false, func(t *testing.T, data string) string {
			return chmod("..", 0o777)(t, data)
		}, "not sticky"},
		{"data dir of another user", true, chown(""), "to fix: if it is yours, chown -R 0 "},
		{"admin.token of another user", true, chown("admin.token"), "it may have been planted"},
		{"identity.key of another user", true, chown("identity.key"), "it may have been planted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.asRoot && os.Geteuid() != 0 {
				t.Skip("planting another user's file needs root")
			}
			dir := t.TempDir()
			data := filepath.Join(dir, "site", "data")
			if err := os.MkdirAll(data, 0o700); err != nil {
				t.Fatal(err)
			}
			blame := filepath.Clean(tc.plant(t, data))
			file, admin, _ := bareConfig(t, dir, data)
			code, out := runRefused(t, []string{}, nil, bin, file, admin)
			if code != 1 || !strings.Contains(out, "data dir: "+blame+": ") || !strings.Contains(out, tc.fix) {
				t.Fatalf("exit %d, %q; want exit 1 naming %s and the fix %q", code, out, blame, tc.fix)
			}
			if _, err := os.Stat(filepath.Join(data, "identity.key")); err == nil && tc.name != "identity.key of another user" && tc.name != "group-readable identity.key" {
				t.Fatal("the refused gateway wrote its identity key anyway")
			}
		})
	}
}

// TestRunWithoutHomeHasNoTempFallback: a gateway run by a user other than
// root with neither HOME nor XDG_STATE_HOME refuses to start, saying what
// to set, instead of taking $TMPDIR/distgate, which any local user could
// have made first (here with a world-readable token they know in it).
func TestRunWithoutHomeHasNoTempFallback(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("running the gateway as another user needs root")
	}
	// A directory nobody may enter, with a copy of the binary and the
	// configuration in it.
	dir, err := os.MkdirTemp("", "distgate-nohome-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "distgate")
	b, err := os.ReadFile(distgateBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// $TMPDIR/distgate, made first by another user (root here), open to
	// all, with a token they know.
	tmp := filepath.Join(dir, "tmp")
	planted := filepath.Join(tmp, "distgate")
	if err := os.MkdirAll(planted, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(planted, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(planted, "admin.token"), []byte(plantedToken), 0o644); err != nil {
		t.Fatal(err)
	}
	file, admin, _ := bareConfig(t, dir, "")
	code, out := runRefused(t, []string{"TMPDIR=" + tmp}, &syscall.Credential{Uid: 65534, Gid: 65534}, bin, file, admin)
	if code != 1 || !strings.Contains(out, "no data directory") || !strings.Contains(out, "set data_dir") {
		t.Fatalf("exit %d, %q; want exit 1 saying there is no data directory and what to set", code, out)
	}
	ents, _ := os.ReadDir(planted)
	if len(ents) != 1 {
		t.Fatalf("the gateway wrote into %s: %v", planted, ents)
	}
}
