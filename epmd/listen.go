package epmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// ErrAddrInUse is returned by Listen when the port is taken on one of the
// addresses: OTP's epmd takes that to mean another epmd runs, and exits 0.
var ErrAddrInUse = errors.New("address in use")

// Listen opens the listeners OTP's epmd opens for port and an -address
// list: without addresses, 0.0.0.0 and [::] (IPv6 only); with addresses
// (separated by commas or spaces), each of them plus 127.0.0.1 and ::1 when
// missing from the list. Listeners of a family the host lacks are skipped.
func Listen(ctx context.Context, port int, addresses string) ([]net.Listener, error) {
	var addrs []netip.Addr
	fieldsFn := func(r rune) bool { return r == ',' || r == ' ' }
	for _, tok := range strings.FieldsFunc(addresses, fieldsFn) {
		a, err := netip.ParseAddr(tok)
		if err != nil {
			return nil, fmt.Errorf("epmd: cannot parse IP address %q", tok)
		}
		addrs = append(addrs, a.Unmap())
	}
	optional := map[netip.Addr]bool{}
	if len(addrs) == 0 {
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
		optional[netip.IPv6Unspecified()] = true
	} else {
		for _, lo := range []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()} {
			found := false
			for _, a := range addrs {
				found = found || a == lo
			}
			if !found {
				addrs = append(addrs, lo)
				optional[lo] = lo.Is6()
			}
		}
	}
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, a := range addrs {
		network := "tcp4"
		if a.Is6() {
			network = "tcp6" // IPV6_V6ONLY is set for tcp6, as OTP's epmd does
		}
		// No keep-alive probes: a lookup lives for one request, and
		// enabling them costs four setsockopt calls per connection.
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(ctx, network, net.JoinHostPort(a.String(), strconv.Itoa(port)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				closeAll()
				return nil, fmt.Errorf("epmd: listen on %s port %d: %w", a, port, ErrAddrInUse)
			}
			if optional[a] && (errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT)) {
				continue
			}
			closeAll()
			return nil, fmt.Errorf("epmd: listen: %w", err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
