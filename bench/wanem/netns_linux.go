package wanem

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NetnsDir is where iproute2 keeps named network namespaces.
const NetnsDir = "/var/run/netns"

// Netns is a named network namespace, as `ip netns add NAME` makes it:
// the name of a file under NetnsDir.
type Netns string

// NewNetns creates the namespace name with iproute2 and brings its
// loopback up. It needs root (CAP_SYS_ADMIN).
func NewNetns(name string) (Netns, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") || len(name) > 200 {
		return "", fmt.Errorf("wanem: namespace name %q: want a plain file name", name)
	}
	n := Netns(name)
	if err := runIP("netns", "add", name); err != nil {
		return "", err
	}
	if err := n.IP("link", "set", "lo", "up"); err != nil {
		n.Delete()
		return "", err
	}
	return n, nil
}

// Path returns the namespace's file.
func (n Netns) Path() string { return NetnsDir + "/" + string(n) }

// Delete deletes the namespace (`ip netns del`). Processes still running
// in it keep it alive, without a name, until they end.
func (n Netns) Delete() error { return runIP("netns", "del", string(n)) }

// IP runs `ip -n NAME args...`.
func (n Netns) IP(args ...string) error {
	return runIP(append([]string{"-n", string(n)}, args...)...)
}

// Command returns a command that runs name with args inside the namespace,
// through `ip netns exec` (which also mounts a /sys of the namespace).
// The process's PID is name's own: ip execs it.
func (n Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", string(n), name}, args...)...)
}

// Do runs fn on an OS thread that has entered the namespace. Sockets fn
// creates belong to the namespace for their whole life, whichever
// goroutine uses them afterwards. fn must not start goroutines that expect
// to be in the namespace: they run on other threads.
func (n Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread returns to the scheduler only if it is back in its
		// original namespace; otherwise it stays locked and ends with this
		// goroutine.
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("wanem: netns %s: own namespace: %w", n, err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(n.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("wanem: netns %s: %w", n, err)
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			errc <- fmt.Errorf("wanem: netns %s: setns: %w", n, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("wanem: netns %s: back to the original namespace: %w", n, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Listen listens inside the namespace (see net.Listen).
func (n Netns) Listen(network, address string) (ln net.Listener, err error) {
	err = n.Do(func() error {
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// ListenPacket listens inside the namespace (see net.ListenPacket).
func (n Netns) ListenPacket(network, address string) (c net.PacketConn, err error) {
	err = n.Do(func() error {
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Dial dials from inside the namespace (see net.Dialer.DialContext).
func (n Netns) Dial(ctx context.Context, network, address string) (c net.Conn, err error) {
	err = n.Do(func() error {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("wanem: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
