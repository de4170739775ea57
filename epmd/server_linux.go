package epmd

import (
	"net"
	"syscall"
	"time"
)

// peekLen is how many bytes answerNow looks at: a PORT_PLEASE2 frame for
// any name, a LOOKUP_X of a few names and protocols.
const peekLen = 512

// deferredSilence is how long a listener with TCP_DEFER_ACCEPT of 1 s
// holds a connection that sends nothing: until the first retransmission
// of its SYN-ACK (TCP_TIMEOUT_INIT, 1 s) is acknowledged.
const deferredSilence = time.Second

// deferAccept sets TCP_DEFER_ACCEPT on a TCP listener: the kernel queues
// a connection for accept only when its first data has arrived (or, for a
// silent peer, after deferredSilence), so the request is there when the
// connection is accepted. It reports whether the option is set.
func deferAccept(ln net.Listener) bool {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return false
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}

// recvNow reads what c's receive buffer already holds into b, without
// waiting; with peek the bytes stay in the buffer. It returns 0 when there
// is nothing or c is not a socket.
func recvNow(c net.Conn, b []byte, peek bool) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	flags := syscall.MSG_DONTWAIT
	if peek {
		flags |= syscall.MSG_PEEK
	}
	n := 0
	raw.Read(func(fd uintptr) bool {
		n, _, err = syscall.Recvfrom(int(fd), b, flags)
		return true // one try: never wait in the poller
	})
	if err != nil || n < 0 {
		return 0
	}
	return n
}
