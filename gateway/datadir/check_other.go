//go:build !unix

package datadir

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Check verifies, on a system without Unix permissions (Windows), only
// that the data directory is a directory: its ACLs, which decide who may
// read or change it, are not read. Keep it where only the gateway's
// account has access (the default under the user's profile is).
func Check(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return &UnsafeError{Path: dir, Problem: "not a directory", Fix: "choose another data_dir"}
	}
	return nil
}

// ReadSecret reads a secret of the data directory, which must be a regular
// file; its ACLs are not checked.
func ReadSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &UnsafeError{Path: path, Problem: "not a regular file", Fix: "remove it"}
	}
	return io.ReadAll(io.LimitReader(f, maxSecret))
}

// OpenLock opens (creating it) the run lock of a data directory.
func OpenLock(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, RunLock), os.O_RDWR|os.O_CREATE, 0o600)
}
