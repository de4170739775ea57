package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The sites of the site tests, all on one bridge, sharing one etcd
// cluster (each site under its own prefix):
//
//	site A: hosts a1, a2 (agents), edge ea
//	site B: hosts b1, b2, b3 (agents), edges eb1, eb2 (one identity)
//	site C: host c1 (agent), edge ec: reached from A through B (transit)
//
// Routes of site-d.example loop (A sends them via B, B via A): the hop
// limit ends them.
const (
	siteLeaseTTL = "3s"
	siteLiveness = 2 * time.Second
)

type sitesTopo struct {
	t    *testing.T // the test that owns the topology
	net  *siteNet
	etcd *etcdCluster
	h    map[string]*nsHost
	gw   map[string]*siteGW
}

func (s *sitesTopo) host(name string) *nsHost { return s.h[name] }

// node's full name on a host: name@<host>.<site>.example.
func fullName(name, host string) string {
	return fmt.Sprintf("%s@%s.site-%s.example", name, host, host[:1])
}

func startSites(t *testing.T) *sitesTopo {
	t.Helper()
	requireTools(t, "erl", "erlc")
	s := &sitesTopo{t: t, net: newSiteNet(t), h: map[string]*nsHost{}, gw: map[string]*siteGW{}}
	s.etcd = startEtcd(t, s.net.gw)
	for _, n := range []string{"a1", "a2", "ea", "b1", "b2", "b3", "eb1", "eb2", "c1", "ec"} {
		s.h[n] = s.net.host(t, n)
	}
	quic := func(names ...string) string {
		var l []string
		for _, n := range names {
			l = append(l, s.h[n].ip+":4371")
		}
		return "[" + strings.Join(l, ", ") + "]"
	}
	links := "links: {quic: \"0.0.0.0:4371\", tls: \"0.0.0.0:4371\"}\n"
	route := func(match, site, via string) string {
		r := fmt.Sprintf("  - {match: %q, site: %s, liveness: %s", match, site, siteLiveness)
		if via != "" {
			r += ", via: " + via
		}
		return r + "}\n"
	}
	// The edges; B's two share one identity, which A and C pin.
	ea := writeGW(t, s.h["ea"], "site-a", "edge", "ea", s.etcd, links)
	eb1 := writeGW(t, s.h["eb1"], "site-b", "edge", "eb1", s.etcd, links)
	eb2 := writeGW(t, s.h["eb2"], "site-b", "edge", "eb2", s.etcd, links)
	ec := writeGW(t, s.h["ec"], "site-c", "edge", "ec", s.etcd, links)
	eb2.shareIdentity(t, eb1)
	idA, idB, idC := ea.identity(t), eb1.identity(t), ec.identity(t)
	peer := func(site, addrs, id string) string {
		return fmt.Sprintf("  - {site: %s, quic: %s, identity: %s}\n", site, addrs, id)
	}
	appendTo := func(g *siteGW, body string) {
		writeFile(t, g.config, readFile(t, g.config)+body)
	}
	appendTo(ea, "peers:\n"+peer("site-b", quic("eb1", "eb2"), idB)+"routes:\n"+
		route("*@*.site-b.example", "site-b", "")+route("*@*.site-c.example", "site-c", "site-b")+route("*@*.site-d.example", "site-d", "site-b"))
	for _, eb := range []*siteGW{eb1, eb2} {
		appendTo(eb, "peers:\n"+peer("site-a", quic("ea"), idA)+peer("site-c", quic("ec"), idC)+"routes:\n"+
			route("*@*.site-a.example", "site-a", "")+route("*@*.site-c.example", "site-c", "")+route("*@*.site-d.example", "site-d", "site-a"))
	}
	appendTo(ec, "peers:\n"+peer("site-b", quic("eb1", "eb2"), idB))
	s.gw["ea"], s.gw["eb1"], s.gw["eb2"], s.gw["ec"] = ea, eb1, eb2, ec
	// The agents: each host's EPMD on its own 127.0.0.1:4369.
	for _, n := range []string{"a1", "a2", "b1", "b2", "b3", "c1"} {
		site := "site-" + n[:1]
		body := fmt.Sprintf("epmd: {hosts: [%s.%s.example]}\nroutes:\n", n, site)
		for _, other := range []string{"a", "b", "c", "d"} {
			if other != n[:1] {
				body += route("*@*.site-"+other+".example", "site-"+other, "")
			}
		}
		s.gw[n] = writeGW(t, s.h[n], site, "agent", n, s.etcd, body)
	}
	for _, n := range []string{"ea", "eb1", "eb2", "ec", "a1", "a2", "b1", "b2", "b3", "c1"} {
		s.gw[n].run(t)
	}
	return s
}

// dirKey is the etcd key of a node's registration in its site.
func dirKey(site, name string) string { return "/distgate/" + site + "/d/nodes/" + name }

// relaysOf counts the relays an edge carries now.
func relaysOf(t testing.TB, g *siteGW) int {
	t.Helper()
	out := g.cli(t, "status", "-json")
	return strings.Count(out, "\"caller\"")
}

// TestSites runs two sites of many hosts (and a third for transit) on a
// real three-member etcd cluster, with real nodes on hosts that are
// network namespaces. Its parts share the topology and run in order: the
// ones that kill something come last.
func TestSites(t *testing.T) {
	t.Parallel()
	s := startSites(t)
	x := fullName("x", "a2")
	y := fullName("y", "b3")
	// y registers a global name; both wait for rpc.
	ynode := startSiteScript(t, s.host("b3"), y, `global:register_name(site_b_y, spawn(fun() -> receive stop -> ok end end)), io:format("ready~n").`)
	ynode.w.waitLine(t, "ready", 60*time.Second, ynode.proc)
	xnode := startSiteScript(t, s.host("a2"), x, `io:format("ready~n").`)
	xnode.w.waitLine(t, "ready", 60*time.Second, xnode.proc)
	cli := s.etcd.client(t)
	waitUntil(t, "x and y in their sites' directories", 10, func() bool {
		return keyExists(t, cli, dirKey("site-a", "x")) && keyExists(t, cli, dirKey("site-b", "y"))
	})

	t.Run("same site", func(t *testing.T) {
		// a1 finds x on a2 in its cache and dials it straight, across the
		// site network.
		out := mustEval(t, s.host("a1"), fullName("s1", "a1"), fmt.Sprintf(`rpc:call('%s', erlang, node, [])`, x))
		if lastLine(out) != "'"+x+"'" {
			t.Fatalf("rpc from a1 to x on a2: %s", out)
		}
	})

	t.Run("two sites both ways", func(t *testing.T) {
		// a2 -> agent a2 -> edge ea -> an edge of B -> y on b3, and back.
		expr := fmt.Sprintf(`
			Y = '%s',
			Y = rpc:call(Y, erlang, node, []),
			Pat = <<"0123456789abcdef">>, N = 50 * 1024 * 1024 div 16,
			Big = rpc:call(Y, binary, copy, [Pat, N], 120000),
			Here = erlang:md5(Big),
			There = rpc:call(Y, erlang, md5, [binary:copy(Pat, N)]),
			G = global:whereis_name(site_b_y),
			{Here =:= There, byte_size(Big), node(G) =:= Y}`, y)
		out := mustEval(t, s.host("a2"), fullName("t1", "a2"), expr)
		if lastLine(out) != "{true,52428800,true}" {
			t.Fatalf("a2 to b3 (rpc, 50 MB md5, global): %s", out)
		}
		out = mustEval(t, s.host("b3"), fullName("t2", "b3"), fmt.Sprintf(`rpc:call('%s', erlang, node, [])`, x))
		if lastLine(out) != "'"+x+"'" {
			t.Fatalf("rpc from b3 to x on a2: %s", out)
		}
	})

	t.Run("transit and loop", func(t *testing.T) {
		w := fullName("w", "c1")
		wnode := startSiteScript(t, s.host("c1"), w, `io:format("ready~n").`)
		wnode.w.waitLine(t, "ready", 60*time.Second, wnode.proc)
		waitUntil(t, "w in site C's directory", 10, func() bool { return keyExists(t, cli, dirKey("site-c", "w")) })
		// A reaches C through B: agent a1 -> ea -> eb -> ec -> c1.
		out := mustEval(t, s.host("a1"), fullName("t3", "a1"), fmt.Sprintf(`rpc:call('%s', erlang, node, [])`, w))
		if lastLine(out) != "'"+w+"'" {
			t.Fatalf("rpc from a1 to w on c1 through site B: %s", out)
		}
		// site-d's routes loop between A and B: refused at the hop limit.
		out = mustEval(t, s.host("a1"), fullName("t4", "a1"), `net_kernel:connect_node('q@d1.site-d.example')`)
		if lastLine(out) != "false" {
			t.Fatalf("a loop of routes connected: %s", out)
		}
		waitUntil(t, "an edge to log the hop limit", 5, func() bool {
			return strings.Contains(s.gw["ea"].proc.out.String(), "hop limit") ||
				strings.Contains(s.gw["eb1"].proc.out.String(), "hop limit") || strings.Contains(s.gw["eb2"].proc.out.String(), "hop limit")
		})
	})

	t.Run("duplicate name", func(t *testing.T) {
		first := startSiteScript(t, s.host("b1"), fullName("dup", "b1"), `io:format("ready~n").`)
		first.w.waitLine(t, "ready", 60*time.Second, first.proc)
		waitUntil(t, "dup in site B's directory", 10, func() bool { return keyExists(t, cli, dirKey("site-b", "dup")) })
		// The same name on b2: epmd's answer to a duplicate, and the node
		// does not start.
		out, err := evalOn(t, s.host("b2"), "dup@b2.site-b.example", `ok`)
		if err == nil {
			t.Fatalf("a second dup started on b2:\n%s", out)
		}
		if v := keyValue(t, cli, dirKey("site-b", "dup")); !strings.Contains(v, `"member":"b1"`) {
			t.Fatalf("dup's record after the duplicate: %s", v)
		}
	})

	t.Run("shared policy", func(t *testing.T) {
		v1 := policyModule(t, "samples/policies/local-only/local-only.wat")
		v2 := policyModule(t, "samples/policies/static-map") // a Go policy of a few MiB: stored in chunks
		cfg := filepath.Join(repoRoot(), "samples/policies/static-map/config.json")
		eb1, eb2 := s.gw["eb1"], s.gw["eb2"]
		activeOn := func(g *siteGW) string {
			out, _, code := runCmd(t, nil, distgateBin(t), "policy", "list", "-json", "-config", g.config)
			if code != 0 {
				return ""
			}
			i := strings.Index(out, `"name": "shared-test"`)
			if i < 0 {
				return ""
			}
			rest := out[i:]
			j := strings.Index(rest, `"sha256": "`)
			if j < 0 {
				return ""
			}
			return rest[j+11 : j+11+64]
		}
		for _, step := range []struct {
			what  string
			args  []string
			bound time.Duration // the 2 s, with slack for the CLI's own start; 0: logged only
		}{
			{"push v1", []string{"policy", "push", "shared-test", v1}, 3 * time.Second},
			// A Go module: fetched in chunks, then compiled by each of the
			// site's four other gateways at once, on this machine's two
			// shared cores (a compilation alone takes about 2 s of a core
			// here): the propagation is the WAT module's, the rest is the
			// compiler's, which this test does not time.
			{"push v2", []string{"policy", "push", "shared-test", v2, "-config-file", cfg}, 0},
			{"rollback", []string{"policy", "rollback", "shared-test"}, 3 * time.Second},
		} {
			eb1.cli(t, step.args...)
			want := activeOn(eb1)
			start := time.Now()
			waitUntil(t, step.what+" at eb1 active on eb2", 60, func() bool { return activeOn(eb2) == want })
			took := time.Since(start)
			t.Logf("%s: active on eb2 %v after eb1 answered", step.what, took)
			if step.bound > 0 && took > step.bound {
				t.Fatalf("%s: eb2 took %v", step.what, took)
			}
			// An agent of the site has it too.
			waitUntil(t, step.what+" on agent b3", 60, func() bool { return activeOn(s.gw["b3"]) == want })
		}
	})

	t.Run("etcd leader killed during traffic", func(t *testing.T) {
		// x calls y every 20 ms for 5 s, and reports its failures and
		// whether the connection ever dropped.
		loop := startSiteScript(t, s.host("a2"), fullName("l1", "a2"), fmt.Sprintf(`
			Y = '%s', pong = net_adm:ping(Y), monitor_node(Y, true), io:format("connected~n"),
			F = fun Loop(0, Fail) -> Fail; Loop(N, Fail) ->
				R = rpc:call(Y, erlang, node, [], 2000),
				receive {nodedown, Y} -> io:format("nodedown~n") after 20 -> ok end,
				Loop(N - 1, if R =:= Y -> Fail; true -> Fail + 1 end) end,
			io:format("failures ~p~n", [F(250, 0)]), halt(0).`, y))
		loop.w.waitLine(t, "connected", 60*time.Second, loop.proc)
		time.Sleep(time.Second)
		leader := s.etcd.waitLeader(t)
		leader.kill()
		// Lookups of the site's nodes keep working meanwhile.
		out := mustEval(t, s.host("a1"), fullName("s2", "a1"), fmt.Sprintf(`rpc:call('%s', erlang, node, [])`, x))
		if lastLine(out) != "'"+x+"'" {
			t.Fatalf("a lookup with etcd's leader gone: %s", out)
		}
		line := loop.w.waitLine(t, "failures", 60*time.Second, loop.proc)
		if line != "failures 0" || strings.Contains(loop.out.String(), "nodedown") {
			t.Fatalf("traffic while etcd's leader died: %s\n%s", line, loop.out)
		}
		leader.restart(s.t)
		s.etcd.waitLeader(t)
	})

	t.Run("etcd stopped", func(t *testing.T) {
		for _, m := range s.etcd.members {
			m.kill()
		}
		waitUntil(t, "a1 to say its directory is stale", 10, func() bool {
			return strings.Contains(s.gw["a1"].cli(t, "status", "-json"), `"stale": true`)
		})
		// Lookups and new relays from the cache: a1 reaches y on b3.
		out := mustEval(t, s.host("a1"), fullName("s3", "a1"), fmt.Sprintf(`rpc:call('%s', erlang, node, [])`, y))
		if lastLine(out) != "'"+y+"'" {
			t.Fatalf("a1 to y with etcd stopped: %s", out)
		}
		// A registration meanwhile is held...
		z := fullName("z", "a1")
		znode := startSiteScript(t, s.host("a1"), z, `io:format("ready~n").`)
		znode.w.waitLine(t, "ready", 60*time.Second, znode.proc)
		if st := s.gw["a1"].cli(t, "status"); !strings.Contains(st, "registrations waiting for etcd: z") {
			t.Fatalf("a1's status does not show z waiting:\n%s", st)
		}
		// ... and published when etcd returns; the directory converges
		// without restarts.
		for _, m := range s.etcd.members {
			m.restart(s.t)
		}
		s.etcd.waitLeader(t)
		cli := s.etcd.client(t)
		defer func() {
			if t.Failed() {
				t.Logf("agent a1:\n%s", s.gw["a1"].proc.out)
			}
		}()
		waitUntil(t, "z published", 30, func() bool { return keyExists(t, cli, dirKey("site-a", "z")) })
		waitUntil(t, "a2 to reach z on a1", 30, func() bool {
			out, err := evalOn(t, s.host("a2"), fullName("s4", "a2"), fmt.Sprintf(`rpc:call('%s', erlang, node, [])`, z))
			return err == nil && lastLine(out) == "'"+z+"'"
		})
		waitUntil(t, "a1's directory current again", 10, func() bool {
			return strings.Contains(s.gw["a1"].cli(t, "status", "-json"), `"stale": false`)
		})
	})

	t.Run("agent stopped", func(t *testing.T) {
		cli := s.etcd.client(t)
		// A clean stop revokes the agent's lease: its names leave at once.
		c2 := startSiteScript(t, s.host("b2"), fullName("c2", "b2"), `io:format("ready~n").`)
		c2.w.waitLine(t, "ready", 60*time.Second, c2.proc)
		waitUntil(t, "c2 published", 10, func() bool { return keyExists(t, cli, dirKey("site-b", "c2")) })
		start := time.Now()
		s.gw["b2"].stop(syscall.SIGTERM)
		waitUntil(t, "c2 gone after b2's clean stop", 5, func() bool { return !keyExists(t, cli, dirKey("site-b", "c2")) })
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("a clean stop took %v to remove its names", took)
		}
		// A killed agent's names leave with its lease.
		start = time.Now()
		s.gw["b1"].stop(syscall.SIGKILL)
		waitUntil(t, "dup gone after b1 was killed", 15, func() bool { return !keyExists(t, cli, dirKey("site-b", "dup")) })
		ttl, _ := time.ParseDuration(siteLeaseTTL)
		if took := time.Since(start); took > ttl+2*time.Second {
			t.Fatalf("a killed agent's names took %v to leave (lease %v)", took, ttl)
		}
	})

	t.Run("edge killed", func(t *testing.T) {
		// x keeps a connection to y through one of B's edges; that edge is
		// killed: x sees nodedown within the route's liveness, and its next
		// connect goes through the other edge within liveness + 1 s.
		fo := startSiteScript(t, s.host("a2"), fullName("f1", "a2"), fmt.Sprintf(`
			Y = '%s', pong = net_adm:ping(Y), monitor_node(Y, true), io:format("connected~n"),
			receive {nodedown, Y} -> io:format("nodedown ~p~n", [os:system_time(millisecond)]) end,
			Again = fun R(0) -> false; R(N) -> case net_kernel:connect_node(Y) of true -> true; _ -> timer:sleep(50), R(N - 1) end end,
			true = Again(100),
			Y = rpc:call(Y, erlang, node, []),
			io:format("reconnected ~p~n", [os:system_time(millisecond)]), halt(0).`, y))
		fo.w.waitLine(t, "connected", 60*time.Second, fo.proc)
		var carrier *siteGW
		waitUntil(t, "the edge of B that carries x's connection", 10, func() bool {
			for _, n := range []string{"eb1", "eb2"} {
				if relaysOf(t, s.gw[n]) > 0 {
					carrier = s.gw[n]
					return true
				}
			}
			return false
		})
		killed := time.Now()
		carrier.stop(syscall.SIGKILL)
		down := fo.w.waitLine(t, "nodedown", 30*time.Second, fo.proc)
		up := fo.w.waitLine(t, "reconnected", 30*time.Second, fo.proc)
		ms := func(line string) time.Duration {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return time.UnixMilli(v).Sub(killed)
		}
		t.Logf("edge %s killed: nodedown after %v, reconnected after %v", carrier.host.name, ms(down), ms(up))
		if ms(down) > siteLiveness+time.Second {
			t.Fatalf("nodedown %v after the kill; liveness %v", ms(down), siteLiveness)
		}
		if ms(up) > siteLiveness+time.Second+time.Second { // liveness + 1 s, with 1 s of slack
			t.Fatalf("reconnected %v after the kill; want within liveness + 1 s", ms(up))
		}
	})
}
