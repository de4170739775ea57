//go:build unix

package wasm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkCacheDir refuses a compilation cache that another local user owns
// or may write, in whole or in part: its files are native code that the
// engine loads and runs. A cache that does not exist yet is fine (wazero
// makes it 0700).
func checkCacheDir(dir string) error {
	euid := os.Geteuid()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != euid {
			return fmt.Errorf("wasm: compilation cache: %s is owned by uid %d, not by uid %d, who runs the engine: it holds native code the engine runs; remove it (rm -r %s)", path, st.Uid, euid, dir)
		}
		if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode()&0o022 != 0 {
			return fmt.Errorf("wasm: compilation cache: %s is writable by group or others (mode %04o): it holds native code the engine runs; remove the cache (rm -r %s) or chmod -R go-w %s", path, fi.Mode().Perm(), dir, dir)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
