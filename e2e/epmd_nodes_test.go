package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
)

// TestStockNodesFindEachOther: unmodified `erl -sname` nodes register with
// distgate, find each other, run rpc:call, and net_adm:names/0 works.
func TestStockNodesFindEachOther(t *testing.T) {
	t.Parallel()
	port, _ := startDistgateEpmd(t)
	a := startNode(t, port, "alpha")
	out := evalErl(t, port, "beta", fmt.Sprintf(`
		pong = net_adm:ping('%[1]s'),
		Node = rpc:call('%[1]s', erlang, node, []),
		Sum = rpc:call('%[1]s', lists, sum, [[1,2,3]]),
		{ok, Names} = net_adm:names(),
		{Node, Sum, lists:sort([N || {N, _} <- Names])}`, a.name))
	want := fmt.Sprintf(`{%s,6,["alpha","beta"]}`, a.name)
	if out != want {
		t.Fatalf("beta printed %s, want %s", out, want)
	}
}

// TestStockEpmdClientAgainstDistgate drives distgate with OTP's own epmd
// command line client: -names, -dump, -kill, -stop.
func TestStockEpmdClientAgainstDistgate(t *testing.T) {
	t.Parallel()
	requireTools(t, "epmd")
	port, daemon := startDistgateEpmd(t, "-relaxed_command_check")
	env := []string{"ERL_EPMD_PORT=" + strconv.Itoa(port)}
	a := startNode(t, port, "gamma")

	out, _, code := runCmd(t, env, "epmd", "-names")
	if code != 0 || !regexp.MustCompile(`^epmd: up and running on port `+strconv.Itoa(port)+` with data:\nname gamma at port \d+\n$`).MatchString(out) {
		t.Fatalf("epmd -names: exit %d\n%q", code, out)
	}
	out, _, code = runCmd(t, env, "epmd", "-dump")
	if code != 0 || !regexp.MustCompile(`active name     <gamma> at port \d+, fd = \d+\n\x00`).MatchString(out) {
		t.Fatalf("epmd -dump: exit %d\n%q", code, out)
	}
	if _, _, code := runCmd(t, env, "epmd", "-started"); code != 0 {
		t.Fatalf("epmd -started: exit %d", code)
	}
	out, _, code = runCmd(t, env, "epmd", "-stop", "nosuch")
	if code != 0 || out != "NOEXIST\n" {
		t.Fatalf("epmd -stop nosuch: exit %d %q", code, out)
	}
	out, _, code = runCmd(t, env, "epmd", "-stop", "gamma")
	if code != 0 || out != "STOPPED\n" {
		t.Fatalf("epmd -stop gamma: exit %d %q", code, out)
	}
	// The node notices its EPMD connection closed and registers again
	// (OTP retries every 2 s).
	waitRegistered(t, port, "gamma", a.proc)
	out, _, code = runCmd(t, env, "epmd", "-kill")
	if code != 0 || out != "Killed\n" {
		t.Fatalf("epmd -kill (relaxed): exit %d %q", code, out)
	}
	if !daemon.exited(5 * time.Second) {
		t.Fatal("distgate epmd still running after -kill")
	}
	if err := daemon.err; err != nil {
		t.Fatalf("distgate epmd exited with %v, want 0:\n%s", err, daemon.out)
	}
}

// TestKillRefusedWithLiveNodes: without relaxed mode, -kill is refused
// while a node is registered, and allowed once it is gone.
func TestKillRefusedWithLiveNodes(t *testing.T) {
	t.Parallel()
	requireTools(t, "epmd")
	port, daemon := startDistgateEpmd(t)
	env := []string{"ERL_EPMD_PORT=" + strconv.Itoa(port)}
	n := startNode(t, port, "delta")
	out, _, code := runCmd(t, env, "epmd", "-kill")
	if code != 1 || out != "Killing not allowed - living nodes in database.\n" {
		t.Fatalf("epmd -kill with a live node: exit %d %q", code, out)
	}
	out, _, code = runCmd(t, env, "epmd", "-stop", "delta")
	if code != 1 || out != "epmd: local epmd responded with <>\n" {
		t.Fatalf("epmd -stop without relaxed: exit %d %q", code, out)
	}
	n.kill()
	waitGone(t, port, "delta")
	if out, _, code := runCmd(t, env, "epmd", "-kill"); code != 0 || out != "Killed\n" {
		t.Fatalf("epmd -kill with no node: exit %d %q", code, out)
	}
	if !daemon.exited(5 * time.Second) {
		t.Fatal("daemon still running")
	}
}

// waitGone polls until name is no longer registered.
func waitGone(t testing.TB, port int, name string) time.Duration {
	t.Helper()
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: 2 * time.Second}
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		info, err := c.PortPlease(context.Background(), name)
		if err == nil && info == nil {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s still registered after 10 s", name)
	return 0
}

// TestNodeDeathAndDuplicateName: a node killed with SIGKILL is gone at
// once; while it lives, a second node of the same name is refused.
func TestNodeDeathAndDuplicateName(t *testing.T) {
	t.Parallel()
	port, _ := startDistgateEpmd(t)
	n := startNode(t, port, "epsilon")
	out, err := tryEvalErl(t, port, "epsilon", `ok`)
	if err == nil || !strings.Contains(out, "seems to be in use by another Erlang node") {
		t.Fatalf("second epsilon: err %v, output:\n%s", err, out)
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	if took := waitGone(t, port, "epsilon"); took > 2*time.Second {
		t.Fatalf("name lingered %v after the node died", took)
	}
	startNode(t, port, "epsilon") // the name is free again
}

// TestErlStartsDistgateAsEpmd: erl -epmd "<link named epmd> -daemon"
// starts distgate as its EPMD daemon, and the node registers with it.
func TestErlStartsDistgateAsEpmd(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	link := linkAsEpmd(t)
	port := freePort(t)
	env := []string{"ERL_EPMD_PORT=" + strconv.Itoa(port)}
	t.Cleanup(func() { runCmd(t, env, link, "-kill") })
	out := evalErl(t, port, "zeta", `{ok, Names} = erl_epmd:names(), [N || {N, _} <- Names]`, "-start_epmd", "true", "-epmd", link+" -daemon")
	if out != `["zeta"]` {
		t.Fatalf("names seen by zeta: %s", out)
	}
	// The daemon is distgate: it answers the extension.
	nodes, err := (&epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port)}).NamesX(context.Background())
	if err != nil {
		t.Fatalf("NAMES_X to the daemon erl started: %v", err)
	}
	if len(nodes) != 0 {
		t.Fatalf("nodes left after zeta halted: %+v", nodes)
	}
	if out, _, code := runCmd(t, env, link, "-kill"); code != 0 || out != "Killed\n" {
		t.Fatalf("kill: %d %q", code, out)
	}
}

// TestForegroundPrintsNothing: in the foreground, `distgate epmd` prints
// nothing on stdout, as OTP's epmd, while it serves.
func TestForegroundPrintsNothing(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	var stdout, stderr syncBuffer
	cmd := exec.Command(distgateBin(t), "epmd", "-port", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitListening(t, "127.0.0.1:"+strconv.Itoa(port), nil)
	startNode(t, port, "quiet")
	if _, _, err := (&epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port)}).Names(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "" {
		t.Fatalf("the foreground daemon printed %q on stdout", stdout.String())
	}
}
