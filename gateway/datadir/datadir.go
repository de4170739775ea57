// Package datadir is the gateway's data directory: where each file lives,
// how the directory is made and checked, and how files in it are read and
// written (atomically, with their permissions). The policy engine keeps
// its own part of it (policies/ and cache/, see package wasm).
//
// The directory holds the gateway's private key, its admin token and the
// compiled policies it runs as native code: another local user who could
// read or replace any of them could impersonate the site, drive the admin
// API or run code as the gateway. Check therefore refuses, on Unix, a
// directory (or a directory above it) that another user owns or may write,
// and a file in it that another user owns or may write, or may read when
// it is a secret. On Windows only the kind of each path is checked (a
// directory, a regular file): its ACLs are not read.
package datadir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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
	RunLock      = "run.lock"     // locked by the gateway that runs from the directory (0600)
)

// name is the directory's name under the user's state directory.
const name = "distgate"

// SystemDir is the data directory of a gateway run by root with neither
// XDG_STATE_HOME nor HOME set (a systemd unit without User=).
const SystemDir = "/var/lib/distgate"

// ErrNoDataDir is returned by Ensure when no data directory is given and
// none applies by default (Default returned "").
var ErrNoDataDir = errors.New("no data directory: data_dir is not set, neither XDG_STATE_HOME nor HOME is, " +
	"and the gateway does not run as root (which would use " + SystemDir + "); " +
	"set data_dir in the configuration (or give -data DIR), or set HOME")

// Default returns the data directory of a configuration that names none:
// $XDG_STATE_HOME/distgate, else ~/.local/state/distgate, else, for root,
// SystemDir. It is "" when none of these applies: never a temporary
// directory, where another local user could have made it first.
func Default() string {
	home, _ := os.UserHomeDir()
	return defaultDir(os.Getenv("XDG_STATE_HOME"), home, os.Geteuid())
}

// defaultDir is Default over its inputs. A relative XDG_STATE_HOME is
// ignored, as the XDG specification asks.
func defaultDir(xdgState, home string, euid int) string {
	switch {
	case xdgState != "" && filepath.IsAbs(xdgState):
		return filepath.Join(xdgState, name)
	case home != "":
		return filepath.Join(home, ".local", "state", name)
	case euid == 0:
		return SystemDir
	}
	return ""
}

// Ensure creates the data directory (0700) when it is missing, then checks
// that no other local user can read its secrets or change what it holds
// (see Check): the gateway refuses to start from a directory that fails.
func Ensure(dir string) error {
	if dir == "" {
		return ErrNoDataDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return Check(dir)
}

// An UnsafeError is returned by Check when another local user could read a
// secret of the data directory or change what it holds: the directory, a
// directory above it, or a file in it.
type UnsafeError struct {
	Path    string // what is unsafe
	Problem string // why: "writable by group or others (mode 0777)"
	Fix     string // the command that makes it safe
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("data dir: %s: %s; to fix: %s", e.Path, e.Problem, e.Fix)
}

// maxSecret bounds what ReadSecret reads: keys and tokens are small.
const maxSecret = 64 << 10

// secret reports whether a file of the data directory must be readable by
// its owner only: the identity key, the admin token, any other private key
// (certmagic's), and run.lock, which another user who could open it could
// lock to keep the gateway from starting.
func secret(path string) bool {
	switch filepath.Base(path) {
	case IdentityKey, AdminToken, RunLock:
		return true
	}
	return strings.HasSuffix(path, ".key")
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
	if b, err := ReadSecret(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("admin token %s is shorter than 32 characters; delete it to generate a new one", path)
		}
		return tok, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
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
