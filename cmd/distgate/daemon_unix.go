//go:build unix

// Running as a daemon, on Linux and the other Unix systems: detaching,
// the descriptor limit, systemd's sockets. daemon_windows.go has the rest.

package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"syscall"
)

// daemonAttr starts the daemon in a new session, in the root directory.
func daemonAttr() (dir string, sys *syscall.SysProcAttr) {
	return "/", &syscall.SysProcAttr{Setsid: true}
}

// raiseFileLimit lifts the descriptor limit as far as the system lets this
// process: the Go runtime already raised the soft limit to the hard one;
// a privileged process can raise the hard limit up to fs.nr_open (on
// Linux; elsewhere up to 2^20 when the system allows).
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	want := uint64(1 << 20)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(string(trimSpace(b)), 10, 64); err == nil && n < want {
			want = n
		}
	}
	if uint64(lim.Max) < want {
		var raised syscall.Rlimit
		setRlim(&raised.Cur, want)
		setRlim(&raised.Max, want)
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	log.Debug("file descriptor limit", "soft", lim.Cur, "hard", lim.Max)
}

// setRlim sets a field of syscall.Rlimit, which is an int64 on some
// systems (FreeBSD) and a uint64 on others.
func setRlim[T ~int64 | ~uint64](p *T, v uint64) { *p = T(v) }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// systemdListeners returns the sockets systemd passed (sd_listen_fds).
func systemdListeners() ([]net.Listener, error) {
	if strconv.Itoa(os.Getpid()) != os.Getenv("LISTEN_PID") {
		return nil, fmt.Errorf("systemd provides no sockets")
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("systemd provides no sockets")
	}
	var lns []net.Listener
	for fd := 3; fd < 3+n; fd++ {
		f := os.NewFile(uintptr(fd), "systemd-socket")
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot obtain sockets from systemd: %w", err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
