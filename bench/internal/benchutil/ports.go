package benchutil

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports for the benches' daemons come from below the kernel's ephemeral
// range (net.ipv4.ip_local_port_range, 32768 and up by default), from
// which the kernel takes the port of every outgoing connection and of
// every listener on port 0. A port found free in that range and bound a
// moment later by a daemon (stunnel, erl, a distgate) can be taken in
// between by any connection of the machine, the benches' own short lookup
// connections first, or by another test binary's listener: stunnel then
// exits with "Address already in use". Below the range only a port picked
// this way is ever bound. Each process starts at its own offset, in a
// band of its own (the e2e tests pick theirs from 20000 up).
const (
	portBandLow  = 10000
	portBandHigh = 20000
	portSlots    = 50 // the band's slices, one per process by its PID
)

var ports struct {
	sync.Mutex
	next int
}

// NextFreePort returns the next port of the band below the ephemeral range
// for which free, which tries to bind it, reports true. Where the
// ephemeral range leaves no such band, it asks the kernel for a port
// (port 0) and checks that one.
func NextFreePort(free func(port int) bool) (int, error) {
	high := min(portBandHigh, ephemeralLow())
	if high-portBandLow < portSlots {
		for range 50 {
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
		return 0, errors.New("no free port")
	}
	ports.Lock()
	defer ports.Unlock()
	if ports.next < portBandLow || ports.next >= high {
		ports.next = portBandLow + os.Getpid()%portSlots*((high-portBandLow)/portSlots)
	}
	for range high - portBandLow {
		port := ports.next
		if ports.next++; ports.next >= high {
			ports.next = portBandLow
		}
		if free(port) {
			return port, nil
		}
	}
	return 0, errors.New("no free port below the ephemeral range")
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

// FreePort returns a loopback TCP port, below the ephemeral range, that
// is free now and stays free until a daemon binds it.
func FreePort() (int, error) {
	return NextFreePort(func(port int) bool { return CanListen("tcp4", "127.0.0.1", port) })
}

// FreeLinkPort is FreePort for TCP and UDP both: a gateway's QUIC and TLS
// link listeners share the port.
func FreeLinkPort() (int, error) {
	return NextFreePort(func(port int) bool {
		return CanListen("tcp4", "127.0.0.1", port) && CanListen("udp4", "127.0.0.1", port)
	})
}

// CanListen reports whether host:port can be bound on network ("tcp4",
// "udp4", "tcp6", ...) now: a check for NextFreePort.
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
