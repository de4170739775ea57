package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/internal/freeport"
)

// binDir holds the distgate binary built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	if spec := os.Getenv(forgeEnv); spec != "" {
		os.Exit(forgeMain(spec))
	}
	dir, err := os.MkdirTemp("", "distgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// distgateBin builds cmd/distgate once and returns its path.
func distgateBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		out := filepath.Join(binDir, "distgate")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/distgate")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, b)
			return
		}
		buildOnce.path = out
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// requireTools skips the test when a tool is missing, or fails it under
// CI=true, where everything must be installed.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (run scripts/install-deps.sh)", tool)
			}
			t.Skipf("%s is missing (run make deps)", tool)
		}
	}
}

// requireRoot skips a test that needs root (network namespaces) when not
// run as root, and fails it under CI=true, where nothing is skipped.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("network namespaces need root")
		}
		t.Skip("network namespaces need root")
	}
}

// pickPort returns a loopback port free now for TCP and, with udp, for
// UDP too, from below the kernel's ephemeral range: a port picked free
// stays free until the daemon binds it (see internal/freeport).
func pickPort(t testing.TB, udp bool) int {
	t.Helper()
	pick := freeport.TCP
	if udp {
		pick = freeport.Link
	}
	port, err := pick()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// freePort returns a loopback TCP port that is free now.
func freePort(t testing.TB) int { return pickPort(t, false) }

// syncBuffer is a bytes.Buffer safe for a process writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a background process owned by a test.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startProc starts a process that the test's cleanup kills.
func startProc(t testing.TB, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// exited waits up to d for the process to end.
func (p *proc) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitListening waits until something accepts on addr.
func waitListening(t testing.TB, addr string, p *proc) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if p != nil && p.exited(0) {
			t.Fatalf("process exited before listening on %s: %v\n%s", addr, p.err, p.out)
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// startDistgateEpmd runs `distgate epmd -port P args...` in the foreground.
func startDistgateEpmd(t testing.TB, args ...string) (port int, p *proc) {
	t.Helper()
	port = freePort(t)
	p = startProc(t, []string{"ERL_EPMD_PORT=", "ERL_EPMD_ADDRESS=", "ERL_EPMD_RELAXED_COMMAND_CHECK"},
		distgateBin(t), append([]string{"epmd", "-port", strconv.Itoa(port)}, args...)...)
	waitListening(t, "127.0.0.1:"+strconv.Itoa(port), p)
	return port, p
}

// startStockEpmd runs OTP's epmd in the foreground on a private port.
func startStockEpmd(t testing.TB, args ...string) (port int, p *proc) {
	t.Helper()
	requireTools(t, "epmd")
	port = freePort(t)
	p = startProc(t, nil, "epmd", append([]string{"-port", strconv.Itoa(port)}, args...)...)
	waitListening(t, "127.0.0.1:"+strconv.Itoa(port), p)
	return port, p
}

// shortHost is the host part of -sname node names: the system host name
// when it resolves, else localhost (given explicitly as name@localhost).
func shortHost() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	h, _, _ = strings.Cut(h, ".")
	if _, err := net.LookupHost(h); err != nil {
		return "localhost"
	}
	return h
}

// erlNode is an Erlang node running in the background.
type erlNode struct {
	*proc
	name string // full node name
}

const cookie = "distgate_e2e"

// nodeArgs returns erl's arguments for a node named name (short) that
// uses the EPMD on epmdPort.
func nodeArgs(name string, extra ...string) []string {
	args := []string{"-sname", name + "@" + shortHost(), "-setcookie", cookie, "-noshell", "-noinput", "-start_epmd", "false"}
	return append(args, extra...)
}

// startNode starts an erl node and waits until it is registered with the
// EPMD on epmdPort under its short name.
func startNode(t testing.TB, epmdPort int, name string, extra ...string) *erlNode {
	t.Helper()
	requireTools(t, "erl")
	env := []string{"ERL_EPMD_PORT=" + strconv.Itoa(epmdPort)}
	n := &erlNode{proc: startProc(t, env, "erl", nodeArgs(name, extra...)...), name: name + "@" + shortHost()}
	waitRegistered(t, epmdPort, name, n.proc)
	return n
}

// waitRegistered polls PORT_PLEASE2 until name is registered.
func waitRegistered(t testing.TB, epmdPort int, name string, p *proc) {
	t.Helper()
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(epmdPort), Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if info, err := c.PortPlease(context.Background(), name); err == nil && info != nil {
			return
		}
		if p != nil && p.exited(0) {
			t.Fatalf("node %s exited before registering: %v\n%s", name, p.err, p.out)
		}
	}
	t.Fatalf("node %s did not register with the EPMD on port %d", name, epmdPort)
}

// evalErl runs a short-lived node that evaluates expr (an Erlang
// expression) and prints its value with ~p; it returns the printed text.
// A crash in expr fails the test with the node's output.
func evalErl(t testing.TB, epmdPort int, name, expr string, extra ...string) string {
	t.Helper()
	out, err := tryEvalErl(t, epmdPort, name, expr, extra...)
	if err != nil {
		t.Fatalf("erl %s: %v\n%s", name, err, out)
	}
	return out
}

func tryEvalErl(t testing.TB, epmdPort int, name, expr string, extra ...string) (string, error) {
	t.Helper()
	return tryEvalErlWithin(t, 60*time.Second, epmdPort, name, expr, extra...)
}

// bulkEvalTimeout bounds a short-lived node that moves tens of megabytes
// (50 MB through TLS, a gateway and md5 at both ends: 5 to 8 s of CPU for
// the processes of one test). It guards against a hang only: with the
// tests run in parallel, and another package's beside them, on a loaded
// 2-core machine such a run took 47 s where it takes 7 alone, and the
// minute of a short eval killed the node mid-transfer.
const bulkEvalTimeout = 5 * time.Minute

// tryEvalErlWithin is tryEvalErl with the node's run bounded by d.
func tryEvalErlWithin(t testing.TB, d time.Duration, epmdPort int, name, expr string, extra ...string) (string, error) {
	t.Helper()
	requireTools(t, "erl")
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	wrapped := fmt.Sprintf(`try R = begin %s end, io:format("~p~n", [R]), halt(0) catch C:E:S -> io:format("CRASH ~p:~p ~p~n", [C, E, S]), halt(3) end.`, expr)
	args := nodeArgs(name, extra...)
	args = append(args, "-eval", wrapped)
	cmd := exec.CommandContext(ctx, "erl", args...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(epmdPort))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// runCmd runs a command to its end and returns stdout, stderr and the
// exit code.
func runCmd(t testing.TB, env []string, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return o.String(), e.String(), code
}

// rawExchange sends raw bytes on a new connection and reads until the
// daemon closes or wait passes; open reports that it had not closed.
func rawExchange(t testing.TB, port int, raw []byte, wait time.Duration) (reply []byte, open bool) {
	t.Helper()
	c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(raw) > 0 {
		if _, err := c.Write(raw); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return b, true
	}
	return b, false
}

// waitUntil polls cond every 20 ms for up to secs seconds.
func waitUntil(t testing.TB, what string, secs int, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Duration(secs) * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %d s waiting for %s", secs, what)
}
