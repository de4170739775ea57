package link

import (
	"log/slog"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TCP Fast Open on Linux (fastopen.go says why and when).

// net.ipv4.tcp_fastopen's bits: Fast Open on dialled connections, and on
// listeners.
const (
	tfoClient = 0x1
	tfoServer = 0x2
)

// tcpiOptSYNData is TCP_INFO's tcpi_options bit TCPI_OPT_SYN_DATA
// (linux/tcp.h): the SYN's data was acknowledged by the peer.
const tcpiOptSYNData = 0x20

// dialControl sets a dialled link socket's options: TCP_USER_TIMEOUT
// (userTimeoutControl), and TCP_FASTOPEN_CONNECT when fastOpen, so that
// the first write goes in the SYN once the kernel holds the peer's Fast
// Open cookie (the first such dial asks for one). A kernel that refuses
// Fast Open (net.ipv4.tcp_fastopen without bit 0x1) gets a plain dial.
func dialControl(liveness time.Duration, fastOpen bool) func(string, string, syscall.RawConn) error {
	userTimeout := userTimeoutControl(liveness)
	return func(network, addr string, rc syscall.RawConn) error {
		if err := userTimeout(network, addr, rc); err != nil {
			return err
		}
		if fastOpen {
			rc.Control(func(fd uintptr) {
				unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1) // refused: a plain dial
			})
		}
		return nil
	}
}

// listenControl sets TCP_FASTOPEN on the TLS link listener, with a queue
// of fastOpenQueue. The kernel only uses it when net.ipv4.tcp_fastopen
// has bit 0x2 (checkFastOpen).
func listenControl(_, _ string, rc syscall.RawConn) error {
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, fastOpenQueue) // refused: plain handshakes
	})
	return nil
}

// checkFastOpen says once at start, at info level, when the host's
// net.ipv4.tcp_fastopen (of the gateway's network namespace) keeps TLS
// links from Fast Open: on the listener (bit 0x2, off by default) when
// listening, on dials (bit 0x1).
func checkFastOpen(log *slog.Logger, listening bool) {
	v := readSysctl("net/ipv4/tcp_fastopen")
	if v < 0 {
		return
	}
	server := !listening || v&tfoServer != 0
	if server && v&tfoClient != 0 {
		return
	}
	var off string
	switch {
	case !server && v&tfoClient == 0:
		off = "peers' TLS link connections to this gateway and this gateway's to its peers"
	case !server:
		off = "peers' TLS link connections to this gateway"
	default:
		off = "this gateway's TLS link connections to its peers"
	}
	log.Info("TLS links: TCP Fast Open is off for "+off+": a resumed TLS link connection takes two round trips instead of one",
		"net.ipv4.tcp_fastopen", v, "fix", "sysctl -w net.ipv4.tcp_fastopen=3")
}

// synData reports whether a dialled connection's SYN carried data that
// the peer acknowledged (Fast Open at work).
func synData(c net.Conn) bool {
	info := tcpInfo(c)
	return info != nil && info.Options&tcpiOptSYNData != 0
}
