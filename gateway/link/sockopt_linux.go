package link

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket options of links, on Linux; sockopt_other.go has what other
// systems do instead.

// logPlatform says at start which features are off on this system: none
// on Linux.
func logPlatform(*slog.Logger) {}

// userTimeoutControl sets TCP_USER_TIMEOUT: unacknowledged data older than
// the liveness timeout ends the connection.
func userTimeoutControl(liveness time.Duration) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(liveness.Milliseconds()))
		})
		return serr
	}
}

// tcpRTT reads the kernel's smoothed round-trip time of a TCP connection.
func tcpRTT(c net.Conn) time.Duration {
	if info := tcpInfo(c); info != nil {
		return time.Duration(info.Rtt) * time.Microsecond
	}
	return 0
}

// tcpInfo is c's TCP_INFO; nil if c is not a TCP socket or the kernel
// does not say.
func tcpInfo(c net.Conn) *unix.TCPInfo {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var info *unix.TCPInfo
	rc.Control(func(fd uintptr) {
		info, _ = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	return info
}

// quicWantBuffer is the UDP socket buffer size quic-go asks for (7 MiB);
// with less, QUIC throughput suffers on fast links.
const quicWantBuffer = 7 << 20

// forceUDPBuffers raises a UDP socket's buffers to what QUIC wants past
// the kernel's limits, which a process with CAP_NET_ADMIN may do; quic-go
// then finds them large enough and leaves them.
func forceUDPBuffers(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, quicWantBuffer)
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, quicWantBuffer)
	})
}

// checkUDPBuffers tells the operator at start when the kernel limits UDP
// socket buffers below what QUIC wants, and how to fix it. quic-go asks for
// the buffers itself (as root it may exceed the limits); this reads back
// what the socket got.
func checkUDPBuffers(c *net.UDPConn, log *slog.Logger) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var rcv, snd int
	rc.Control(func(fd uintptr) {
		rcv, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	})
	// Linux reports twice the size set (the kernel's bookkeeping share).
	rmax, wmax := readSysctl("net/core/rmem_max"), readSysctl("net/core/wmem_max")
	if rcv/2 >= quicWantBuffer && snd/2 >= quicWantBuffer {
		return
	}
	log.Warn("UDP socket buffers are smaller than QUIC wants: QUIC links will be slower than they can be",
		"receive_buffer", rcv/2, "send_buffer", snd/2, "want", quicWantBuffer,
		"net.core.rmem_max", rmax, "net.core.wmem_max", wmax,
		"fix", "sysctl -w net.core.rmem_max=7500000 net.core.wmem_max=7500000 (or run the gateway with CAP_NET_ADMIN)")
}

func readSysctl(name string) int {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
