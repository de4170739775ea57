//go:build unix

package datadir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Check verifies that no local user but the one running the gateway can
// change the data directory or read its secrets:
//
//   - every directory above it is owned by root or by this user, and is
//     not writable by group or others unless sticky (as /tmp is), so that
//     nobody else can rename the data directory away and put another in
//     its place; a symbolic link on the way is owned by root or this user;
//   - the directory itself and everything in it are owned by this user and
//     not writable by group or others;
//   - the secrets (the identity key, the admin token, private keys, the
//     run lock) are not readable by group or others either.
//
// The first problem found is returned as an *UnsafeError that says which
// command fixes it.
func Check(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	euid := os.Geteuid()
	if err := checkParents(abs, euid); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if real != abs {
		if err := checkParents(real, euid); err != nil {
			return err
		}
	}
	return filepath.WalkDir(real, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		fi, err := d.Info() // not followed: a link is judged as a link
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		return checkEntry(path, path == real, fi, euid)
	})
}

// checkParents checks the directories above path, and the symbolic links
// among them.
func checkParents(path string, euid int) error {
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		li, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		if li.Mode()&fs.ModeSymlink != 0 {
			if uid := ownerOf(li); uid != 0 && uid != euid {
				return &UnsafeError{Path: p, Problem: "a symbolic link owned by " + who(uid) + ", who could point it elsewhere",
					Fix: "choose a data_dir whose path does not go through it"}
			}
		}
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		uid := ownerOf(fi)
		if uid != 0 && uid != euid {
			return &UnsafeError{Path: p, Problem: fmt.Sprintf("above the data directory, owned by %s, who could replace the data directory", who(uid)),
				Fix: "choose a data_dir under directories owned by root or by " + who(euid)}
		}
		if perm := fi.Mode(); perm&0o022 != 0 && perm&fs.ModeSticky == 0 {
			return &UnsafeError{Path: p, Problem: fmt.Sprintf("above the data directory, writable by group or others (mode %04o) and not sticky: they could replace the data directory", perm.Perm()),
				Fix: "chmod go-w " + p + " (or choose another data_dir)"}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// checkEntry checks the data directory (top) or an entry in it.
func checkEntry(path string, top bool, fi fs.FileInfo, euid int) error {
	if uid := ownerOf(fi); uid != euid {
		fix := fmt.Sprintf("if it is yours, chown -R %d %s; else remove it (rm -r %s): it may have been planted", euid, path, path)
		return &UnsafeError{Path: path, Problem: fmt.Sprintf("owned by %s, not by %s, who runs the gateway", who(uid), who(euid)), Fix: fix}
	}
	mode := fi.Mode()
	if mode&fs.ModeSymlink != 0 {
		return nil // its owner is this user: the link is as safe as the directory
	}
	if mode&0o022 != 0 {
		fix := "chmod go-w " + path
		if top {
			fix = "chmod 700 " + path
		}
		return &UnsafeError{Path: path, Problem: fmt.Sprintf("writable by group or others (mode %04o)", mode.Perm()), Fix: fix}
	}
	if !fi.IsDir() && secret(path) && mode&0o077 != 0 {
		return secretReadable(path, mode)
	}
	return nil
}

// secretReadable is the error of a secret others may read, with the fix
// that suits it: a token is made anew, a key kept or replaced.
func secretReadable(path string, mode fs.FileMode) error {
	e := &UnsafeError{Path: path, Problem: fmt.Sprintf("a secret readable by group or others (mode %04o)", mode.Perm())}
	switch filepath.Base(path) {
	case AdminToken:
		e.Fix = "rm " + path + " (a new token is made at start; whoever could read this one could use the admin API)"
	case IdentityKey:
		e.Fix = "chmod 600 " + path + "; if anyone else may have read it, remove it and its identity.crt to make a new identity, and give the new `distgate id` to the peers"
	default:
		e.Fix = "chmod 600 " + path
	}
	return e
}

// ReadSecret reads a secret of the data directory: a regular file owned by
// the user running the gateway that group and others can neither read nor
// write. A missing file gives an error wrapping fs.ErrNotExist.
func ReadSecret(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &UnsafeError{Path: path, Problem: "a symbolic link", Fix: "replace it with the file it points to"}
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &UnsafeError{Path: path, Problem: "not a regular file", Fix: "rm -r " + path}
	}
	if err := checkEntry(path, false, fi, os.Geteuid()); err != nil {
		return nil, err
	}
	if fi.Mode()&0o077 != 0 {
		return nil, secretReadable(path, fi.Mode())
	}
	return io.ReadAll(io.LimitReader(f, maxSecret))
}

// OpenLock opens (creating it 0600) the run lock of a data directory that
// Ensure has checked, without following a link.
func OpenLock(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, RunLock), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
}

func ownerOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// who names a user for a message: "uid 1001 (alice)".
func who(uid int) string {
	s := "uid " + strconv.Itoa(uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		s += " (" + u.Username + ")"
	}
	return s
}
