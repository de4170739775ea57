// Package datadir is the gateway's data directory: where each file lives,
// how the directory is made, and how files in it are written (atomically,
// with their permissions). The policy engine keeps its own part of it
// (policies/ and cache/, see package wasm).
package datadir

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files in the data directory.
const (
	IdentityKey  = "identity.key" // the gateway's private key (PKCS#8 PEM, 0600)
	IdentityCert = "identity.crt" // its self-signed CA certificate
	AdminToken   = "admin.token"  // the admin API's bearer token (0600)
	Certificates = "certificates" // certmagic's storage
)

// name is the directory's name under the user's state directory.
const name = "distgate"

// Default returns the data directory of a configuration that names none:
// $XDG_STATE_HOME/distgate, else ~/.local/state/distgate, else distgate in
// the temporary directory.
func Default() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, name)
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", name)
	}
	return filepath.Join(os.TempDir(), name)
}

// Ensure creates the data directory (0700) when it is missing.
func Ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, synced and renamed over path, then syncs the directory: a
// crash leaves the old file or the new one, never a part.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadOrCreateToken returns the admin token stored in the data directory,
// generating it (256 random bits, in hex) on first start.
func LoadOrCreateToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, AdminToken)
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("admin token %s is shorter than 32 characters; delete it to generate a new one", path)
		}
		return tok, nil
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("admin token: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	if err := WriteFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok, nil
}
