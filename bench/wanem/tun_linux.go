package wanem

import (
	"fmt"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// tunQueueLen is the length of each device's queue towards the emulator
// (500 by default): packets sent while the emulator is kept from the CPU
// wait there rather than being dropped (KernelDropsIn), up to 100 ms of a
// 400 Mbit/s link.
const tunQueueLen = 4096

// openTUN creates the TUN device dev inside ns (IPv4 and IPv6 packets, no
// packet-information header), gives it mtu and addr, and brings it up
// without IPv6 link-local addresses (so that no router solicitation or
// MLD report travels the link unasked). It returns the device's file
// descriptor, non-blocking; the device disappears when it is closed.
func openTUN(ns Netns, dev string, mtu int, addr netip.Prefix) (fd int, err error) {
	fd = -1
	err = ns.Do(func() error {
		// A TUN device is created in the namespace of the thread that
		// opens it, so it never exists outside ns.
		f, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			unix.Close(f)
			return fmt.Errorf("device name %q: %w", dev, err)
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(f, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(f)
			return fmt.Errorf("TUNSETIFF %s: %w", dev, err)
		}
		fd = f
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("wanem: tun %s in %s: %w", dev, ns, err)
	}
	steps := [][]string{
		{"link", "set", "dev", dev, "mtu", strconv.Itoa(mtu), "addrgenmode", "none", "txqueuelen", strconv.Itoa(tunQueueLen)},
		{"addr", "add", addr.String(), "dev", dev},
		{"link", "set", "dev", dev, "up"},
	}
	for _, s := range steps {
		if err := ns.IP(s...); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}
