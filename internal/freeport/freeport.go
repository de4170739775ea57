// Package freeport picks loopback ports for the daemons that tests and
// benches start, and for gateways whose peers must know their addresses
// before they start: ports that stay free from the moment they are picked
// until the daemon binds them.
//
// A port found free by listening on port 0 lies in the kernel's ephemeral
// range (net.ipv4.ip_local_port_range, 32768 and up by default), from
// which the kernel takes the port of every outgoing connection and of
// every other listener on port 0. Bound a moment later by a daemon, it
// may have been taken in between: a flood of 4096 listeners on port 0,
// 256 held at once (a proxy-port flood of the gateway's tests, run beside
// the benches in CI), took the picked port in 13 of 20 trials, and stunnel
// exited with "Address already in use". Below the range only a port picked
// here is ever bound. Each process starts at its own offset, from its PID,
// so that test binaries run at once pick different ports; each port
// picked is checked free.
package freeport

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// The band ports are picked from, below the ephemeral range, and its
// slices: one per process, by PID.
const (
	bandLow  = 10000
	bandHigh = 32000
	slots    = 100
)

var next struct {
	sync.Mutex
	port int
}

// Next returns the next port of the band for which free, which tries to
// bind it, reports true. Where the ephemeral range leaves no band below
// it, Next asks the kernel for ports (port 0), as the best it can do.
func Next(free func(port int) bool) (int, error) {
	high := min(bandHigh, ephemeralLow())
	if high-bandLow < slots {
		for range 100 {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			if free(port) {
				return port, nil
			}
		}
		return 0, errors.New("freeport: no free port")
	}
	next.Lock()
	defer next.Unlock()
	if next.port < bandLow || next.port >= high {
		next.port = bandLow + os.Getpid()%slots*((high-bandLow)/slots)
	}
	for range high - bandLow {
		port := next.port
		if next.port++; next.port >= high {
			next.port = bandLow
		}
		if free(port) {
			return port, nil
		}
	}
	return 0, errors.New("freeport: no free port below the ephemeral range")
}

// ephemeralLow returns the first port of the kernel's ephemeral range,
// the default 32768 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		if low, err := strconv.Atoi(f[0]); err == nil {
			return low
		}
	}
	return 32768
}

// TCP returns a loopback TCP port free now.
func TCP() (int, error) {
	return Next(func(port int) bool { return CanListen("tcp4", "127.0.0.1", port) })
}

// UDP returns a loopback UDP port free now.
func UDP() (int, error) {
	return Next(func(port int) bool { return CanListen("udp4", "127.0.0.1", port) })
}

// Link returns a loopback port free now for TCP and UDP both: a gateway's
// QUIC and TLS link listeners share it.
func Link() (int, error) {
	return Next(func(port int) bool {
		return CanListen("tcp4", "127.0.0.1", port) && CanListen("udp4", "127.0.0.1", port)
	})
}

// CanListen reports whether host:port can be bound on network ("tcp4",
// "tcp6", "udp4", ...) now.
func CanListen(network, host string, port int) bool {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if strings.HasPrefix(network, "udp") {
		c, err := net.ListenPacket(network, addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	ln, err := net.Listen(network, addr)
	if err == nil {
		ln.Close()
	}
	return err == nil
}
