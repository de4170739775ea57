package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	dir := t.TempDir()
	tok, err := LoadOrCreateToken(dir)
	if err != nil || len(tok) != 64 {
		t.Fatalf("LoadOrCreateToken = %q, %v; want 64 hex characters", tok, err)
	}
	fi, err := os.Stat(filepath.Join(dir, AdminToken))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", fi, err)
	}
	if again, err := LoadOrCreateToken(dir); err != nil || again != tok {
		t.Fatalf("reloaded %q, %v; want %q", again, err, tok)
	}
	if err := WriteFileAtomic(filepath.Join(dir, AdminToken), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateToken(dir); err == nil || !strings.Contains(err.Error(), "shorter than 32") {
		t.Fatalf("a short token: %v", err)
	}
}

func TestEnsure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, %v; want a 0700 directory", fi, err)
	}
}
