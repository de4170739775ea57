package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
)

// Windows has no sessions to detach into, descriptor limit or systemd:
// detach starts the daemon as a detached process, the rest does nothing.

// detachedProcess is DETACHED_PROCESS: the child has no console.
const detachedProcess = 0x00000008

// detach starts this same command line again without a console, with its
// standard files on NUL, and returns 0 at once, as `epmd -daemon` does.
func detach(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "epmd: cannot find own executable: %v\n", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "epmd: %v\n", err)
		return 1
	}
	defer null.Close()
	p, err := os.StartProcess(exe, os.Args, &os.ProcAttr{
		Env:   append(os.Environ(), daemonEnv+"=1"),
		Files: []*os.File{null, null, null},
		Sys:   &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP | detachedProcess},
	})
	if err != nil {
		fmt.Fprintf(stderr, "epmd: cannot start the daemon: %v\n", err)
		return 1
	}
	p.Release()
	return 0
}

// raiseFileLimit does nothing: Windows has no descriptor limit to raise.
func raiseFileLimit(*slog.Logger) {}

// systemdListeners fails: there is no systemd on Windows.
func systemdListeners() ([]net.Listener, error) {
	return nil, errors.New("systemd provides no sockets on Windows")
}
