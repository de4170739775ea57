package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
)

// cookie is the distribution cookie of every node of the benchmark.
const cookie = "sitesbench"

// compileErlang compiles the distgate_epmd modules (a source directory)
// into dir, the nodes' -pa.
func compileErlang(dir, src string) error {
	mods, _ := filepath.Glob(filepath.Join(src, "*.erl"))
	if len(mods) == 0 {
		return fmt.Errorf("no .erl file in %s", src)
	}
	if out, err := exec.Command("erlc", append([]string{"-o", dir}, mods...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("erlc: %v\n%s", err, out)
	}
	return nil
}

// startNode starts an Erlang node registered with the agent g that
// evaluates expr; its output lines are delivered.
func (b *bench) startNode(g *gateway, full, expr string) (*child, error) {
	c, err := benchutil.StartChild(full, []string{"ERL_EPMD_PORT=" + strconv.Itoa(g.epmd)}, true, "erl",
		"-name", full, "-setcookie", cookie, "-noshell", "-noinput", "-start_epmd", "false",
		"-pa", b.ebin, "-epmd_module", "distgate_epmd", "-eval", expr)
	if err != nil {
		return nil, err
	}
	b.track(c)
	return c, nil
}

// failoverLoop is x's program: connect to Y, then forever: wait for
// nodedown, connect again (the next net_kernel:connect_node and rpc that
// succeed) and say when, in Unix milliseconds.
const failoverLoop = `
	Y = '%s',
	Now = fun() -> os:system_time(millisecond) end,
	Up = fun U() ->
		case net_kernel:connect_node(Y) andalso rpc:call(Y, erlang, node, [], 2000) =:= Y of
			true -> ok;
			false -> timer:sleep(20), U()
		end end,
	Up(), io:format("up ~p~n", [Now()]),
	Loop = fun L() ->
		monitor_node(Y, true),
		receive {nodedown, Y} -> io:format("down ~p~n", [Now()]) end,
		Up(), io:format("back ~p~n", [Now()]),
		L() end,
	Loop().`

// failover kills, o.kills times, the edge of site B that carries x's
// connection to y (SIGKILL), and measures from the kill to x's first
// successful rpc through the other edge; the killed edge is started again
// before the next kill.
func (b *bench) failover(ctx context.Context, t *topology) (down, back []time.Duration, err error) {
	y := "y@b1.site-b.example"
	yn, err := b.startNode(t.b1, y, `io:format("ready~n").`)
	if err != nil {
		return nil, nil, err
	}
	defer yn.Kill()
	if _, err := yn.WaitLine(ctx, "ready", 60*time.Second); err != nil {
		return nil, nil, err
	}
	if err := waitFor("y in the directory of both edges of site B", 30*time.Second, func() bool {
		return t.eb1.siteNodes() > 0 && t.eb2.siteNodes() > 0
	}); err != nil {
		return nil, nil, err
	}
	x, err := b.startNode(t.a1, "x@a1.site-a.example", fmt.Sprintf(failoverLoop, y))
	if err != nil {
		return nil, nil, err
	}
	defer x.Kill()
	if _, err := x.WaitLine(ctx, "up", 60*time.Second); err != nil {
		return nil, nil, err
	}
	for i := range b.o.kills {
		var carrier *gateway
		if err := waitFor("the edge of site B that carries x's connection", 10*time.Second, func() bool {
			for _, e := range []*gateway{t.eb1, t.eb2} {
				if st, err := e.status(); err == nil && len(st.Relays) > 0 {
					carrier = e
					return true
				}
			}
			return false
		}); err != nil {
			return nil, nil, err
		}
		killed := time.Now()
		carrier.proc.Kill()
		dl, err := x.WaitLine(ctx, "down", 60*time.Second)
		if err != nil {
			return nil, nil, fmt.Errorf("kill %d of %s: %w", i+1, carrier.name, err)
		}
		bl, err := x.WaitLine(ctx, "back", 60*time.Second)
		if err != nil {
			return nil, nil, fmt.Errorf("kill %d of %s: %w", i+1, carrier.name, err)
		}
		down = append(down, sinceMillis(killed, dl))
		back = append(back, sinceMillis(killed, bl))
		fmt.Fprintf(b.log, "  kill %d of %s: nodedown after %v, rpc through the other edge after %v\n", i+1, carrier.name, down[i], back[i])
		// Back for the next kill, with y in its cache.
		if err := b.start(carrier); err != nil {
			return nil, nil, err
		}
		if err := waitFor(carrier.name+" to see y again", 30*time.Second, func() bool { return carrier.siteNodes() > 0 }); err != nil {
			return nil, nil, err
		}
	}
	return down, back, nil
}

// sinceMillis is how long after t a node's line "word <unix ms>" says.
func sinceMillis(t time.Time, line string) time.Duration {
	f := strings.Fields(line)
	ms, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
	return time.UnixMilli(ms).Sub(t)
}

// waitFor polls cond every 10 ms until it holds, for at most limit.
func waitFor(what string, limit time.Duration, cond func() bool) error {
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %v for %s", limit, what)
		}
	}
}
