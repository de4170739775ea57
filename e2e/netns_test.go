package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netnsPair is a network namespace joined to the test's namespace by a
// veth pair: Host is the address on the test's side, Peer the address
// inside the namespace. Connections dialled from inside come from a
// non-local address, which is how EPMD's loopback rule is tested.
type netnsPair struct {
	Name       string
	Host, Peer string
}

var netnsSeq atomic.Int32

// newNetns creates a namespace and a veth pair; cleanup removes both. It
// needs root and iproute2: without root it skips, even under CI, because a
// namespace is a privilege of the machine rather than a tool to install.
func newNetns(t testing.TB) netnsPair {
	t.Helper()
	requireTools(t, "ip")
	requireRoot(t)
	n := netnsSeq.Add(1)
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, n)
	p := netnsPair{
		Name: "dg" + id,
		Host: fmt.Sprintf("10.%d.%d.1", 200+n%50, os.Getpid()%250),
		Peer: fmt.Sprintf("10.%d.%d.2", 200+n%50, os.Getpid()%250),
	}
	hostIf, peerIf := "dgh"+id, "dgp"+id
	steps := [][]string{
		{"netns", "add", p.Name},
		{"link", "add", hostIf, "type", "veth", "peer", "name", peerIf},
		{"link", "set", peerIf, "netns", p.Name},
		{"addr", "add", p.Host + "/24", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"netns", "exec", p.Name, "ip", "addr", "add", p.Peer + "/24", "dev", peerIf},
		{"netns", "exec", p.Name, "ip", "link", "set", peerIf, "up"},
		{"netns", "exec", p.Name, "ip", "link", "set", "lo", "up"},
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", hostIf).Run()
		exec.Command("ip", "netns", "del", p.Name).Run()
	})
	for i, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			if i == 0 {
				t.Skipf("cannot create a network namespace here: %v: %s", err, out)
			}
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return p
}

// dialFrom dials addr from inside the namespace: the socket is created on
// an OS thread moved into it. The thread is never handed back to the Go
// scheduler (it stays locked and ends with its goroutine).
func (p netnsPair) dialFrom(addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		f, err := os.Open("/var/run/netns/" + p.Name)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
