package localpeer

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a helper process: it dials the address
// in it, prints its local address, and holds the connection until its
// standard input closes.
const helperEnv = "LOCALPEER_TEST_DIAL"

func TestMain(m *testing.M) {
	if addr := os.Getenv(helperEnv); addr != "" {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		os.Stdout.WriteString(c.LocalAddr().String() + "\n")
		io.Copy(io.Discard, os.Stdin)
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// nobody is the uid the tests drop to in a child process.
const nobody = 65534

var helperCopy struct {
	sync.Once
	path string
	err  error
}

// asNobody runs the test binary as a helper process of uid nobody that
// connects to addr, and returns once it has connected. The test binary is
// copied where nobody may run it (go test builds it in a private
// directory).
func asNobody(t *testing.T, addr string) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the test needs root to run a process as another user")
		}
		t.Skip("the test needs root to run a process as another user")
	}
	helperCopy.Do(func() {
		dir, err := os.MkdirTemp("", "localpeer-test-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		var b []byte
		if err == nil {
			b, err = os.ReadFile(os.Args[0])
		}
		if err == nil {
			helperCopy.path = filepath.Join(dir, "helper")
			err = os.WriteFile(helperCopy.path, b, 0o755)
		}
		helperCopy.err = err
	})
	if helperCopy.err != nil {
		t.Fatal(helperCopy.err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(helperCopy.path)) })
	cmd := exec.Command(helperCopy.path)
	cmd.Env = []string{helperEnv + "=" + addr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stderr = &out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line := make([]byte, 64)
	if n, err := stdout.Read(line); err != nil || n == 0 {
		cmd.Wait()
		t.Fatalf("helper: %v %s", err, out.String())
	}
}

func acceptOne(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPeerUID: the owner of the other end of a loopback connection is
// this process's user, both ways, over IPv4 and IPv6, and through the
// /proc tables too.
func TestPeerUID(t *testing.T) {
	for _, network := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := net.Listen("tcp", network)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server := acceptOne(t, ln)
		for _, c := range []net.Conn{server, client} {
			uid, err := PeerUID(c)
			if err != nil || uid != uint32(os.Getuid()) {
				t.Errorf("%s: PeerUID = %d, %v; want %d", c.LocalAddr(), uid, err, os.Getuid())
			}
			ours, theirs := c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
			uid, err = procTablesUID(sock{local: theirs, remote: ours})
			if err != nil || uid != uint32(os.Getuid()) {
				t.Errorf("%s: in /proc: %d, %v; want %d", c.LocalAddr(), uid, err, os.Getuid())
			}
		}
	}
}

// TestPeerUIDDualStack: a peer on an IPv6 socket that reached an IPv4
// listener through a mapped address is found too.
func TestPeerUIDDualStack(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	sa := &syscall.SockaddrInet6{Port: ln.Addr().(*net.TCPAddr).Port}
	copy(sa.Addr[:], netip.MustParseAddr("::ffff:127.0.0.1").AsSlice())
	if err := syscall.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	server := acceptOne(t, ln)
	if uid, err := PeerUID(server); err != nil || uid != uint32(os.Getuid()) {
		t.Fatalf("PeerUID = %d, %v; want %d", uid, err, os.Getuid())
	}
}

// TestPeerUIDOtherUser: a peer of another user is known as that user.
func TestPeerUIDOtherUser(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	asNobody(t, ln.Addr().String())
	server := acceptOne(t, ln)
	if uid, err := PeerUID(server); err != nil || uid != nobody {
		t.Fatalf("PeerUID = %d, %v; want %d", uid, err, nobody)
	}
}

// TestPeerUIDClosedPeer: a peer that has closed its socket is no one,
// not root (the kernel reports sockets past their close with uid 0).
func TestPeerUIDClosedPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := acceptOne(t, ln)
	client.Close()
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := server.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after the peer's close: %v", err)
	}
	if uid, err := PeerUID(server); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PeerUID of a closed peer = %d, %v; want ErrNotFound", uid, err)
	}
	// Nor is a peer on another host, or of the other family.
	if _, err := PeerUIDOf(netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("[::1]:2")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("mixed families: %v", err)
	}
}

func BenchmarkPeerUID(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	for b.Loop() {
		if _, err := PeerUID(client); err != nil {
			b.Fatal(err)
		}
	}
}
