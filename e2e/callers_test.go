package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/handshake"
)

// forgeEnv makes the test binary a forger (see forgeMain): a process that
// connects to a proxy port and claims a node name it may not own.
const forgeEnv = "DISTGATE_E2E_FORGE"

// otpFlags are the distribution flags of an OTP 25 node's send_name.
const otpFlags = 0xd07df7fbd

// forgeMain connects to the address in spec ("addr|name"), sends a
// send_name for name (with no cookie, it can do nothing more), prints
// "reply" when the node it reached answered and "closed" when the gateway
// closed the connection, and holds the connection until its standard input
// closes.
func forgeMain(spec string) int {
	addr, name, _ := strings.Cut(spec, "|")
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer c.Close()
	body := handshake.AppendSendNameV6(nil, handshake.SendName{Name: name, Flags: otpFlags, Creation: 7})
	if _, err := c.Write(append([]byte{byte(len(body) >> 8), byte(len(body))}, body...)); err != nil {
		fmt.Println("error", err)
		return 1
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, _ := c.Read(make([]byte, 64)); n > 0 {
		fmt.Println("reply")
	} else {
		fmt.Println("closed")
	}
	io.Copy(io.Discard, os.Stdin)
	return 0
}

var forgerCopy struct {
	sync.Once
	path string
	err  error
}

// nobody is the user a forger runs as, to be another user than the nodes'.
const nobody = 65534

// forge runs a forger against the proxy port addr claiming name, as
// nobody or as this test's user, and returns what it saw; the forger holds
// its connection until the test ends.
func forge(t *testing.T, addr, name string, asNobody bool) string {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the test needs root, to run a process as another user")
		}
		t.Skip("the test needs root, to run a process as another user")
	}
	// go test builds its binary in a directory only root may enter.
	forgerCopy.Do(func() {
		forgerCopy.path = filepath.Join(binDir, "forger")
		b, err := os.ReadFile(os.Args[0])
		if err == nil {
			err = os.WriteFile(forgerCopy.path, b, 0o755)
		}
		if err == nil {
			err = os.Chmod(binDir, 0o755)
		}
		forgerCopy.err = err
	})
	if forgerCopy.err != nil {
		t.Fatal(forgerCopy.err)
	}
	cmd := exec.Command(forgerCopy.path)
	cmd.Env = []string{forgeEnv + "=" + addr + "|" + name}
	if asNobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("forger: %v", err)
	}
	return strings.TrimSpace(line)
}

// proxyPort looks target up at site s and returns the proxy port's address.
func proxyPort(t *testing.T, s *gatewaySite, target string) string {
	t.Helper()
	eps, err := s.epmdClient().Lookup(context.Background(), epmd.LookupRequest{Node: target, Accept: []string{"inet_tcp"}})
	if err != nil || len(eps) != 1 {
		t.Fatalf("lookup %s: %v, %v\n%s", target, eps, err, s.proc.out)
	}
	return net.JoinHostPort(eps[0].Addr.String(), strconv.Itoa(int(eps[0].Port)))
}

// TestForgedCallerIsUnauthenticated: a local process of another user that
// connects to a proxy port and claims, in its send_name, the name of a
// node registered at site A is reported on both sites as unauthenticated,
// and site B's policy sees it as such and may refuse it; a real node of
// site A still gets through. A caller of site A's nodes' user that asks for
// admin@localhost, another name of site B's host, is decided as
// admin@n1.site-b.example.
func TestForgedCallerIsUnauthenticated(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	// Another name of site B's host, routed to site B as a catch-all route
	// or a lookup policy could.
	a.extra = "  - {match: \"*@localhost\", site: site-b, transport: quic}\n"
	a.writeConfig(t, "quic", 10*time.Second, b)
	b.writeConfig(t, "quic", 10*time.Second, a)
	a.start(t)
	b.start(t)
	startSiteNode(t, b, "y")
	startSiteNode(t, b, "admin")
	x := startSiteNode(t, a, "x")
	target := "y@" + b.host

	if got := forge(t, proxyPort(t, a, target), x.name, true); got != "reply" {
		t.Fatalf("a forger of another user, with the built-in policy: %s\nsite A:\n%s", got, a.proc.out)
	}
	for _, s := range []*gatewaySite{a, b} {
		waitUntil(t, "an unauthenticated relay in "+s.name+"'s status", 5, func() bool {
			return strings.Contains(s.status(t), "unauthenticated")
		})
		if st := s.status(t); strings.Contains(st, x.name) {
			t.Errorf("%s's status shows the forged caller %s:\n%s", s.name, x.name, st)
		}
	}
	// The same claim from the user that registered x is x's own.
	if got := forge(t, proxyPort(t, a, target), x.name, false); got != "reply" {
		t.Fatalf("a caller of x's user: %s", got)
	}
	waitUntil(t, "the verified caller in site B's status", 5, func() bool {
		return strings.Contains(b.status(t), x.name)
	})

	b.push(t, "authorize", policyModule(t, "e2e/testdata/callers"),
		`{"deny": ["admin@`+b.host+`"], "verified_callers_only": true}`)
	if got := forge(t, proxyPort(t, a, target), x.name, true); got != "closed" {
		t.Fatalf("a forger of another user, with a policy that refuses unauthenticated callers: %s", got)
	}
	waitUntil(t, "the refusal in site B's log", 5, func() bool {
		return strings.Contains(b.proc.out.String(), "unauthenticated caller (says "+x.name+")")
	})
	out, err := evalAt(t, a, "x2", fmt.Sprintf("net_adm:ping('%s')", target))
	if err != nil || out != "pong" {
		t.Fatalf("a real node of site A: %v %s\nsite B:\n%s", err, out, b.proc.out)
	}
	// Verified callers asking for site B's nodes by another name of its
	// host: the policy decides on the one name.
	for _, tc := range []struct {
		target, want string
	}{
		{"y@localhost", "reply"},
		{"admin@localhost", "closed"},
		{"admin@" + b.host, "closed"},
	} {
		if got := forge(t, proxyPort(t, a, tc.target), x.name, false); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.target, got, tc.want)
		}
	}
}
