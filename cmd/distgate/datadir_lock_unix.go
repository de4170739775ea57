//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/distgate/distgate/gateway/datadir"
)

// lockDataDir takes the data directory for this process: two gateways on
// one host that share it (both on the default, say) would share an
// identity and an admin token. It creates the directory and checks that
// no other local user can change it or read its secrets (datadir.Ensure),
// then fails, naming the holder, when another process has it; unlock
// releases it.
func lockDataDir(dir string) (unlock func(), err error) {
	if err := datadir.Ensure(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, datadir.RunLock)
	f, err := datadir.OpenLock(dir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, _ := os.ReadFile(path); len(b) > 0 {
				holder = "process " + strings.TrimSpace(string(b))
			}
			return nil, fmt.Errorf("data_dir %s is in use by another gateway (%s): give each gateway on a host its own data_dir (and admin.listen)", dir, holder)
		}
		return nil, fmt.Errorf("data dir: lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
