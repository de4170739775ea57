//go:build !linux

package link

import (
	"log/slog"
	"net"
	"syscall"
	"time"
)

// TCP Fast Open is used on Linux only (fastopen_linux.go): elsewhere TLS
// links take TCP's handshake, then TLS's (logPlatform says so).

// dialControl sets what userTimeoutControl does (nothing): no Fast Open.
func dialControl(liveness time.Duration, _ bool) func(string, string, syscall.RawConn) error {
	return userTimeoutControl(liveness)
}

// listenControl does nothing: no Fast Open.
func listenControl(string, string, syscall.RawConn) error { return nil }

// checkFastOpen does nothing: logPlatform has said what is off.
func checkFastOpen(*slog.Logger, bool) {}

// synData is false: no Fast Open.
func synData(net.Conn) bool { return false }
