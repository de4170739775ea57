package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
)

// These tests use distgate_epmd the way Erlang and Elixir projects do: as a
// dependency of a throwaway project, built into a release by Debian's
// rebar3 and mix with no network, started by the release's own script.

// copyApp copies the distgate_epmd application (its sources, no build
// output) to dir, so that builds never write into the repository.
func copyApp(t testing.TB, dir string) {
	t.Helper()
	src := distgateEpmdSrc()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if d.Name() == "_build" || d.Name() == "ebin" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeTree writes files (path relative to dir: content).
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildEnv is the environment of a build: a private HOME (rebar3's and
// mix's caches), no hex, Debian's rebar3 for mix.
func buildEnv(t testing.TB, home string) []string {
	t.Helper()
	rebar3, err := exec.LookPath("rebar3")
	if err != nil {
		t.Fatal(err)
	}
	return cleanEnv("HOME="+home, "MIX_HOME="+filepath.Join(home, ".mix"), "HEX_HOME="+filepath.Join(home, ".hex"),
		"HEX_OFFLINE=1", "MIX_REBAR3="+rebar3, "MIX_ENV=prod", "REBAR_CACHE_DIR="+filepath.Join(home, ".cache", "rebar3"))
}

// cleanEnv is the test's environment without ERL_EPMD_PORT (a release
// must find its EPMD port by itself) and without other release variables,
// plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "ERL_EPMD_PORT" || strings.HasPrefix(k, "RELEASE_") || strings.HasPrefix(k, "MIX_") ||
			strings.HasPrefix(k, "REBAR") || k == "ERL_FLAGS" || k == "ERL_AFLAGS" || k == "ERL_ZFLAGS" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// build runs a build command in dir, failing the test with its output.
func build(t testing.TB, env []string, dir, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// startWithEnv runs a command (a release's start script, erl) with exactly
// env; the test's cleanup kills it.
func startWithEnv(t testing.TB, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

// waitTransports waits until name is registered at the EPMD on port with
// exactly the protocols want, in order, and returns their ports.
func waitTransports(t testing.TB, port int, name string, p *proc, want ...string) []uint16 {
	t.Helper()
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: 2 * time.Second}
	var got []string
	var ports []uint16
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		nodes, _ := c.NamesX(context.Background())
		for _, n := range nodes {
			if n.Name != name {
				continue
			}
			got, ports = nil, nil
			for _, tr := range n.Transports {
				got, ports = append(got, tr.Proto), append(ports, tr.Port)
			}
			if strings.Join(got, " ") == strings.Join(want, " ") {
				return ports
			}
		}
		if p.exited(0) {
			t.Fatalf("%s exited before registering: %v\n%s", name, p.err, p.out)
		}
	}
	t.Fatalf("%s registered %v at the EPMD on port %d, want %v\n%s", name, got, port, want, p.out)
	return nil
}

// TestRebar3Release: a rebar3 project takes distgate_epmd as a git
// dependency (git_subdir, from a local repository of the working tree);
// its release starts with the vm.args lines of the README, finds its EPMD
// port in sys.config only, registers both of its -proto_dist transports
// with the site's gateway, serves a TLS-only peer over TLS, and reaches a
// node behind the gateway link.
func TestRebar3Release(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl", "rebar3", "git")
	tls := makeTLSFiles(t)
	a, b := bridgePair(t, "quic", 5*time.Second)
	y := startSiteNode(t, b, "y")

	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	copyApp(t, filepath.Join(repo, "erlang", "distgate_epmd"))
	env := buildEnv(t, filepath.Join(dir, "home"))
	git := func(args ...string) {
		build(t, env, repo, "git", append([]string{"-c", "user.name=e2e", "-c", "user.email=e2e@localhost", "-c", "init.defaultBranch=main"}, args...)...)
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "distgate_epmd")

	app := "app@" + a.host
	project := filepath.Join(dir, "dgapp")
	writeTree(t, project, map[string]string{
		"rebar.config": fmt.Sprintf(`{deps, [{distgate_epmd, {git_subdir, "file://%s", {branch, "main"}, "erlang/distgate_epmd"}}]}.
{relx, [{release, {dgapp, "0.1.0"}, [dgapp]},
        {sys_config, "config/sys.config"},
        {vm_args, "config/vm.args"},
        {dev_mode, false}, {include_erts, false}, {include_src, false}]}.
`, repo),
		"src/dgapp.app.src": `{application, dgapp, [{vsn, "0.1.0"}, {applications, [kernel, stdlib, ssl, distgate_epmd]}, {env, []}, {modules, []}]}.
`,
		"config/sys.config": fmt.Sprintf("[{distgate_epmd, [{epmd_port, %d}]}].\n", a.epmdPort),
		"config/vm.args": fmt.Sprintf(`-name %s
-setcookie %s
-epmd_module distgate_epmd
-start_epmd false
-proto_dist inet_tcp inet_tls
-ssl_dist_optfile %s
`, app, cookie, tls.DistConf),
	})
	build(t, env, project, "rebar3", "release")

	rel := startWithEnv(t, cleanEnv("HOME="+filepath.Join(dir, "home")), filepath.Join(project, "_build", "default", "rel", "dgapp", "bin", "dgapp"), "foreground")
	ports := waitTransports(t, a.epmdPort, "app", rel, "inet_tcp", "inet_tls")

	// A TLS-only node of site A reaches the release over its TLS listener
	// (the test certificate does not name the site's host: no host check).
	peerConf := filepath.Join(dir, "tlspeer.conf")
	writeFile(t, peerConf, fmt.Sprintf("[{server, [{certfile, %[1]q}, {keyfile, %[2]q}]},\n {client, [{certfile, %[1]q}, {keyfile, %[2]q}, {verify, verify_none}]}].\n", tls.Cert, tls.Key))
	out, err := evalAt(t, a, "tlspeer", peerAddressExpr(app), "-proto_dist", "inet_tls", "-ssl_dist_optfile", peerConf)
	if err != nil || out != strconv.Itoa(int(ports[1])) {
		t.Fatalf("TLS-only peer: %v, reached the release on port %s, want its TLS port %d", err, out, ports[1])
	}
	// The release reaches y on site B, through both gateways.
	expr := fmt.Sprintf(`{rpc:call('%[1]s', net_adm, ping, ['%[2]s']), rpc:call('%[1]s', rpc, call, ['%[2]s', erlang, node, []])}`, app, y.name)
	out, err = evalAt(t, a, "driver", expr)
	if want := fmt.Sprintf("{pong,'%s'}", y.name); err != nil || out != want {
		t.Fatalf("the release reaching %s: %v\n%s\nwant %s\nrelease:\n%s", y.name, err, out, want, rel.out)
	}
}

// TestMixRelease: a mix project takes distgate_epmd as a path dependency,
// built by Debian's rebar3 (MIX_REBAR3) with no hex; two instances of its
// release run on two sites, one finding its EPMD port in config/config.exs
// only (the other overrides it with ERL_EPMD_PORT). The first, told its
// peer by config/runtime.exs, does Node.connect and a GenServer call to the
// other across the gateway link.
func TestMixRelease(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl", "mix", "rebar3")
	a, b := bridgePair(t, "quic", 5*time.Second)

	dir := t.TempDir()
	dep := filepath.Join(dir, "distgate_epmd")
	copyApp(t, dep)
	project := filepath.Join(dir, "dgmix")
	writeTree(t, project, map[string]string{
		"mix.exs": fmt.Sprintf(`defmodule Dgmix.MixProject do
  use Mix.Project

  def project do
    [app: :dgmix, version: "0.1.0", deps: [{:distgate_epmd, path: %q}]]
  end

  def application, do: [mod: {Dgmix.Application, []}]
end
`, dep),
		"lib/dgmix.ex": `defmodule Dgmix.Application do
  use Application

  def start(_type, _args) do
    peer = Application.get_env(:dgmix, :peer)
    children = [Dgmix.Echo | if(peer, do: [{Task, fn -> call(String.to_atom(peer), 100) end}], else: [])]
    Supervisor.start_link(children, strategy: :one_for_one)
  end

  defp call(peer, 0), do: IO.puts("DGMIX no connection to #{peer}")

  defp call(peer, tries) do
    if Node.connect(peer) do
      IO.puts("DGMIX #{inspect(GenServer.call({Dgmix.Echo, peer}, {:echo, node()}))}")
    else
      Process.sleep(200)
      call(peer, tries - 1)
    end
  end
end

defmodule Dgmix.Echo do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)
  @impl true
  def init(nil), do: {:ok, nil}
  @impl true
  def handle_call({:echo, from}, _from, state), do: {:reply, {:echo, node(), from}, state}
end
`,
		"config/config.exs":  fmt.Sprintf("import Config\nconfig :distgate_epmd, epmd_port: %d\n", a.epmdPort),
		"config/runtime.exs": "import Config\nconfig :dgmix, peer: System.get_env(\"DGMIX_PEER\")\n",
		"rel/vm.args.eex":    "-epmd_module distgate_epmd\n-start_epmd false\n-proto_dist inet_tcp\n",
	})
	home := filepath.Join(dir, "home")
	env := buildEnv(t, home)
	build(t, env, project, "mix", "deps.get")
	build(t, env, project, "mix", "release")

	script := filepath.Join(project, "_build", "prod", "rel", "dgmix", "bin", "dgmix")
	run := func(node string, extra ...string) *proc {
		return startWithEnv(t, cleanEnv(append([]string{"HOME=" + home, "RELEASE_NODE=" + node,
			"RELEASE_DISTRIBUTION=name", "RELEASE_COOKIE=" + cookie}, extra...)...), script, "start")
	}
	target, caller := "b@"+b.host, "a@"+a.host
	pb := run(target, "ERL_EPMD_PORT="+strconv.Itoa(b.epmdPort))
	waitTransports(t, b.epmdPort, "b", pb, "inet_tcp")
	pa := run(caller, "DGMIX_PEER="+target)
	waitTransports(t, a.epmdPort, "a", pa, "inet_tcp")
	want := fmt.Sprintf(`DGMIX {:echo, :"%s", :"%s"}`, target, caller)
	waitUntil(t, "the GenServer reply", 60, func() bool {
		return strings.Contains(pa.out.String(), "DGMIX ") || pa.exited(0)
	})
	if !strings.Contains(pa.out.String(), want) {
		t.Fatalf("the caller printed no %q:\n%s\ntarget:\n%s", want, pa.out, pb.out)
	}
}
