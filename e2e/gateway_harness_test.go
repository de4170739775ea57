package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
)

// gatewaySite is one distgate gateway run as a process, with its own data
// directory, EPMD, admin API and link listeners on loopback.
type gatewaySite struct {
	name     string
	host     string // host part of this site's node names
	dir      string
	config   string
	id       string
	epmdPort int
	admin    string
	link     string // host:port of both the QUIC and the TLS listener
	proc     *proc
	extra    string // more YAML appended to the generated config
	// filterRoutes sets filter on the routes to the peers' nodes.
	filterRoutes bool
}

func newGatewaySite(t testing.TB, name string) *gatewaySite {
	t.Helper()
	dir := t.TempDir()
	s := &gatewaySite{
		name: name, host: "n1." + name + ".example", dir: dir, config: filepath.Join(dir, "distgate.yaml"),
		epmdPort: freePort(t), admin: "127.0.0.1:" + strconv.Itoa(freePort(t)), link: freeLinkAddr(t),
	}
	out, errOut, code := runCmd(t, nil, distgateBin(t), "id", "-data", filepath.Join(dir, "data"))
	if code != 0 {
		t.Fatalf("distgate id: %s", errOut)
	}
	s.id = strings.TrimSpace(out)
	return s
}

// freeLinkAddr finds a loopback port free for both UDP and TCP.
func freeLinkAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(pickPort(t, true))
}

// writeConfig writes the site's configuration: its peers and, for each,
// a route of the peer's node names over transport.
func (s *gatewaySite) writeConfig(t testing.TB, transport string, liveness time.Duration, peers ...*gatewaySite) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "site: %s\ndata_dir: %s\n", s.name, filepath.Join(s.dir, "data"))
	fmt.Fprintf(&b, "epmd:\n  listen: 127.0.0.1:%d\n  hosts: [%s]\n", s.epmdPort, s.host)
	fmt.Fprintf(&b, "admin:\n  listen: %s\n", s.admin)
	fmt.Fprintf(&b, "links:\n  quic: %s\n  tls: %s\n", s.link, s.link)
	fmt.Fprintf(&b, "peers:\n")
	for _, p := range peers {
		fmt.Fprintf(&b, "  - site: %s\n    quic: %s\n    tls: %s\n    identity: %s\n", p.name, p.link, p.link, p.id)
	}
	fmt.Fprintf(&b, "routes:\n")
	for _, p := range peers {
		fmt.Fprintf(&b, "  - match: \"*@*.%s.example\"\n    site: %s\n    transport: %s\n    liveness: %s\n", p.name, p.name, transport, liveness)
		if s.filterRoutes {
			b.WriteString("    filter: true\n")
		}
	}
	b.WriteString(s.extra)
	if err := os.WriteFile(s.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs `distgate run -config` and waits for its EPMD.
func (s *gatewaySite) start(t testing.TB) {
	t.Helper()
	s.proc = startProc(t, nil, distgateBin(t), "run", "-config", s.config)
	waitListening(t, "127.0.0.1:"+strconv.Itoa(s.epmdPort), s.proc)
	waitListening(t, s.admin, s.proc) // the last listener the gateway opens
}

// status runs `distgate status` against the site.
func (s *gatewaySite) status(t testing.TB) string {
	t.Helper()
	out, errOut, code := runCmd(t, nil, distgateBin(t), "status", "-config", s.config)
	if code != 0 {
		t.Fatalf("distgate status: %s", errOut)
	}
	return out
}

func (s *gatewaySite) epmdClient() *epmd.Client {
	return &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(s.epmdPort), Timeout: 5 * time.Second}
}

// bridgePair starts site-a and site-b, each routing the other's node names
// to it over transport.
func bridgePair(t testing.TB, transport string, liveness time.Duration) (a, b *gatewaySite) {
	t.Helper()
	requireTools(t, "erl")
	a, b = newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	a.writeConfig(t, transport, liveness, b)
	b.writeConfig(t, transport, liveness, a)
	a.start(t)
	b.start(t)
	return a, b
}

// longNodeArgs returns erl arguments for a long-named node of a site that
// uses distgate_epmd.
func longNodeArgs(t testing.TB, name string, extra ...string) []string {
	args := []string{"-name", name, "-setcookie", cookie, "-noshell", "-noinput", "-start_epmd", "false"}
	args = append(args, withModule(t)...)
	return append(args, extra...)
}

// startSiteNode starts a long-running node name@<site host> registered with
// the site's gateway.
func startSiteNode(t testing.TB, s *gatewaySite, name string, extra ...string) *erlNode {
	t.Helper()
	full := name + "@" + s.host
	env := []string{"ERL_EPMD_PORT=" + strconv.Itoa(s.epmdPort)}
	n := &erlNode{proc: startProc(t, env, "erl", longNodeArgs(t, full, extra...)...), name: full}
	waitRegistered(t, s.epmdPort, name, n.proc)
	return n
}

// evalAt runs a short-lived node name@<site host> that evaluates expr.
func evalAt(t testing.TB, s *gatewaySite, name, expr string, extra ...string) (string, error) {
	t.Helper()
	return evalAtWithin(t, 120*time.Second, s, name, expr, extra...)
}

// evalAtWithin is evalAt with the node's run bounded by d
// (bulkEvalTimeout for the nodes that move tens of megabytes).
func evalAtWithin(t testing.TB, d time.Duration, s *gatewaySite, name, expr string, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	wrapped := fmt.Sprintf(`try R = begin %s end, io:format("~p~n", [R]), halt(0) catch C:E:S -> io:format("CRASH ~p:~p ~p~n", [C, E, S]), halt(3) end.`, expr)
	args := longNodeArgs(t, name+"@"+s.host, extra...)
	args = append(args, "-eval", wrapped)
	cmd := exec.CommandContext(ctx, "erl", args...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(s.epmdPort))
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// lineWaiter reads a process's output as it comes, line by line.
type lineWaiter struct {
	lines chan string
}

// startScriptNode starts a node that evaluates expr and prints progress
// lines the test waits for.
func startScriptNode(t testing.TB, s *gatewaySite, name, expr string, extra ...string) (*proc, *lineWaiter) {
	t.Helper()
	args := longNodeArgs(t, name+"@"+s.host, append(extra, "-eval", expr)...)
	cmd := exec.Command("erl", args...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(s.epmdPort))
	return startLines(t, cmd)
}

// startLines starts cmd with its output read line by line as it comes;
// the test's cleanup kills it. Lines of any length are read, and the
// output is always drained: a test that stopped listening loses lines
// past the waiter's buffer, never stalls the process on a full pipe.
func startLines(t testing.TB, cmd *exec.Cmd) (*proc, *lineWaiter) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &lineWaiter{lines: make(chan string, 1000)}
	go func() {
		rd := bufio.NewReader(stdout)
		for {
			line, err := rd.ReadString('\n')
			if line != "" {
				p.out.Write([]byte(line))
				select {
				case w.lines <- strings.TrimRight(line, "\r\n"):
				default: // a reader that stopped listening loses lines, never the process
				}
			}
			if err != nil {
				break
			}
		}
		close(w.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p, w
}

// waitLine waits for a line starting with prefix and returns it.
func (w *lineWaiter) waitLine(t testing.TB, prefix string, d time.Duration, p *proc) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				t.Fatalf("node ended before printing %q:\n%s", prefix, p.out)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q line after %v:\n%s", prefix, d, p.out)
		}
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
