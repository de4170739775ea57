package main

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
)

// Windows has no sessions to detach into, descriptor limit or systemd:
// the daemon is a detached process, the rest does nothing.

// detachedProcess is DETACHED_PROCESS: the child has no console.
const detachedProcess = 0x00000008

// daemonAttr starts the daemon without a console, in a process group of
// its own.
func daemonAttr() (dir string, sys *syscall.SysProcAttr) {
	return "", &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP | detachedProcess}
}

// raiseFileLimit does nothing: Windows has no descriptor limit to raise.
func raiseFileLimit(*slog.Logger) {}

// systemdListeners fails: there is no systemd on Windows.
func systemdListeners() ([]net.Listener, error) {
	return nil, errors.New("systemd provides no sockets on Windows")
}
