//go:build unix

package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultDir(t *testing.T) {
	for _, tc := range []struct {
		xdg, home string
		euid      int
		want      string
	}{
		{"/x/state", "/home/a", 1000, "/x/state/distgate"},
		{"", "/home/a", 1000, "/home/a/.local/state/distgate"},
		{"relative", "/home/a", 1000, "/home/a/.local/state/distgate"}, // XDG: relative is ignored
		{"", "", 0, SystemDir}, // a systemd unit without User=
		{"", "", 1000, ""},     // never a temporary directory
		{"", "/root", 0, "/root/.local/state/distgate"},
	} {
		if got := defaultDir(tc.xdg, tc.home, tc.euid); got != tc.want {
			t.Errorf("defaultDir(%q, %q, %d) = %q, want %q", tc.xdg, tc.home, tc.euid, got, tc.want)
		}
	}
	if err := Ensure(""); !errors.Is(err, ErrNoDataDir) || !strings.Contains(err.Error(), "set data_dir") {
		t.Errorf("Ensure(\"\") = %v, want ErrNoDataDir saying what to set", err)
	}
}

// TestCheckRefuses plants, one at a time, what another local user could
// use: Check must name the path and the command that fixes it.
func TestCheckRefuses(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	type setup func(t *testing.T, dir string) string // returns the path to blame
	write := func(rel string, perm os.FileMode) setup {
		return func(t *testing.T, dir string) string {
			p := filepath.Join(dir, rel)
			must(t, os.MkdirAll(filepath.Dir(p), 0o700))
			must(t, os.WriteFile(p, []byte(tok), perm))
			must(t, os.Chmod(p, perm))
			return p
		}
	}
	cases := []struct {
		name string
		set  setup
		fix  string
	}{
		{"world-readable token", write(AdminToken, 0o644), "rm "},
		{"group-readable key", write(IdentityKey, 0o640), "chmod 600"},
		{"readable run.lock", write(RunLock, 0o644), "chmod 600"},
		{"readable certmagic key", write("certificates/acme/x/y.key", 0o604), "chmod 600"},
		{"group-writable cached code", write("cache/wazero/abc", 0o660), "chmod go-w"},
		{"world-writable policy dir", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "policies")
			must(t, os.Mkdir(p, 0o700))
			must(t, os.Chmod(p, 0o777))
			return p
		}, "chmod go-w"},
		{"world-writable data dir", func(t *testing.T, dir string) string {
			must(t, os.Chmod(dir, 0o777))
			return dir
		}, "chmod 700"},
		{"world-writable parent without sticky bit", func(t *testing.T, dir string) string {
			must(t, os.Chmod(filepath.Dir(dir), 0o777))
			return filepath.Dir(dir)
		}, "chmod go-w"},
	}
	if os.Geteuid() == 0 {
		chown := func(rel string) setup {
			return func(t *testing.T, dir string) string {
				p := filepath.Join(dir, rel)
				if rel != "" {
					write(rel, 0o600)(t, dir)
				}
				must(t, os.Lchown(p, 65534, 65534))
				return p
			}
		}
		cases = append(cases,
			struct {
				name string
				set  setup
				fix  string
			}{"data dir of another user", chown(""), "chown -R 0"},
			struct {
				name string
				set  setup
				fix  string
			}{"key of another user", chown(IdentityKey), "rm -r"},
			struct {
				name string
				set  setup
				fix  string
			}{"parent of another user", func(t *testing.T, dir string) string {
				must(t, os.Chown(filepath.Dir(dir), 65534, 65534))
				return filepath.Dir(dir)
			}, "choose a data_dir"},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "parent", "data")
			must(t, Ensure(dir))
			blame := tc.set(t, dir)
			err := Check(dir)
			var ue *UnsafeError
			if !errors.As(err, &ue) || ue.Path != blame || !strings.Contains(ue.Fix, tc.fix) {
				t.Fatalf("Check = %v; want an UnsafeError on %s with a fix containing %q", err, blame, tc.fix)
			}
			if err := Ensure(dir); err == nil {
				t.Fatal("Ensure accepted what Check refused")
			}
		})
	}
}

func TestCheckAccepts(t *testing.T) {
	// A sticky world-writable parent (as /tmp) is fine: nobody else can
	// rename what is in it.
	parent := filepath.Join(t.TempDir(), "sticky")
	must(t, os.Mkdir(parent, 0o700))
	must(t, os.Chmod(parent, 0o777|os.ModeSticky))
	dir := filepath.Join(parent, "data")
	must(t, Ensure(dir))
	if _, err := LoadOrCreateToken(dir); err != nil {
		t.Fatal(err)
	}
	must(t, WriteFileAtomic(filepath.Join(dir, IdentityCert), []byte("public"), 0o644))
	must(t, os.Chmod(dir, 0o755)) // readable, not writable
	must(t, os.Symlink(dir, filepath.Join(parent, "link")))
	for _, d := range []string{dir, filepath.Join(parent, "link")} {
		if err := Check(d); err != nil {
			t.Errorf("Check(%s) = %v, want nil", d, err)
		}
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, AdminToken)
	must(t, os.WriteFile(p, []byte("x"), 0o600))
	if b, err := ReadSecret(p); err != nil || string(b) != "x" {
		t.Fatalf("ReadSecret = %q, %v", b, err)
	}
	must(t, os.Chmod(p, 0o644))
	var ue *UnsafeError
	if _, err := LoadOrCreateToken(dir); !errors.As(err, &ue) {
		t.Fatalf("a world-readable token: %v, want an UnsafeError", err)
	}
	must(t, os.Chmod(p, 0o600))
	link := filepath.Join(dir, IdentityKey)
	must(t, os.Symlink(p, link))
	if _, err := ReadSecret(link); !errors.As(err, &ue) {
		t.Fatalf("a key that is a link: %v, want an UnsafeError", err)
	}
	if _, err := ReadSecret(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing secret: %v, want ErrNotExist", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
