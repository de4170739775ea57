//go:build !linux

package link

import (
	"log/slog"
	"net"
	"runtime"
	"syscall"
	"time"
)

// logPlatform says at start which Linux features are off on this system.
func logPlatform(log *slog.Logger) {
	log.Info("links: TCP_USER_TIMEOUT, TCP_INFO, TCP Fast Open and forced UDP buffer sizes are Linux features, off on "+runtime.GOOS+
		": a dead peer on a TLS link is noticed by TCP keep-alives alone, the status shows no TLS round-trip time, a resumed TLS link connection takes two round trips, and QUIC gets the UDP buffers the system allows",
		"os", runtime.GOOS)
}

// userTimeoutControl does nothing: TCP_USER_TIMEOUT is Linux's.
func userTimeoutControl(time.Duration) func(string, string, syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error { return nil }
}

// tcpRTT is unknown (0): TCP_INFO is Linux's.
func tcpRTT(net.Conn) time.Duration { return 0 }

// forceUDPBuffers does nothing: SO_RCVBUFFORCE is Linux's; quic-go asks
// for the buffers it wants itself.
func forceUDPBuffers(*net.UDPConn) {}

// checkUDPBuffers does nothing: logPlatform has said what is off.
func checkUDPBuffers(*net.UDPConn, *slog.Logger) {}
