package localpeer

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// diagSeq is the sequence number of a request: each has a netlink socket
// of its own, on which it is the only one.
const diagSeq = 1

// socketUID asks the kernel for the owner of the socket s: by sock_diag,
// for its family and, for IPv4 addresses, for a dual-stack IPv6 socket
// that sees them mapped; by /proc/net/tcp{,6} when sock_diag is not
// available.
func socketUID(s sock) (uint32, error) {
	var errs []error
	for _, v6 := range families(s) {
		uid, err := diagUID(s, v6)
		if err == nil {
			return uid, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, ErrNotFound) {
			// No sock_diag here (a kernel without inet_diag, a sandbox
			// without netlink): the kernel's tables in /proc.
			uid, perr := procTablesUID(s)
			if perr == nil {
				return uid, nil
			}
			return 0, errors.Join(err, perr)
		}
	}
	return 0, fmt.Errorf("%w (%w)", ErrNotFound, errors.Join(errs...))
}

// families lists the families a peer socket of s's addresses may have:
// IPv6 addresses, IPv6; IPv4 ones, IPv4 and then a dual-stack IPv6 socket.
func families(s sock) []bool {
	if s.local.Addr().Is6() {
		return []bool{true}
	}
	return []bool{false, true}
}

// diagUID asks sock_diag for the socket s of one family.
func diagUID(s sock, v6 bool) (uint32, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	// The kernel answers within sendto; the timeout only guards against a
	// kernel that never does.
	tv := unix.NsecToTimeval(time.Second.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	if err := unix.Sendto(fd, appendRequest(nil, s, v6, diagSeq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag send: %w", err)
	}
	buf := make([]byte, 8192)
	got, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("sock_diag receive: %w", err)
	}
	return parseReply(buf[:got], s, v6, diagSeq)
}

// procTablesUID looks the socket s up in /proc/net/tcp and tcp6.
func procTablesUID(s sock) (uint32, error) {
	for _, v6 := range families(s) {
		name := "/proc/net/tcp"
		if v6 {
			name = "/proc/net/tcp6"
		}
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		uid, found, err := procUID(f, s, v6)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		if found {
			return uid, nil
		}
	}
	return 0, ErrNotFound
}
