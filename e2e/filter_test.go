package e2e

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway/handshake"
)

// filterSinkExpr is what the filtered node runs at start: an echo server
// and two sinks that hash what they receive, in order, and answer
// {md5, Tag, Digest, Count} when told {done, From, Tag}.
const filterSinkExpr = `
	Sink = fun Sink(Ctx, N) ->
		receive
			{data, B} -> Sink(crypto:hash_update(Ctx, B), N + 1);
			{done, From, Tag} -> From ! {md5, Tag, crypto:hash_final(Ctx), N}, Sink(crypto:hash_init(md5), 0)
		end
	end,
	register(sink_small, spawn(fun() -> Sink(crypto:hash_init(md5), 0) end)),
	register(sink_big, spawn(fun() -> Sink(crypto:hash_init(md5), 0) end)),
	register(echo, spawn(fun Echo() -> receive {From, M} -> From ! {echo, M}, Echo() end end)).`

// filterConfig is no-remote-exec's configuration in the tests: what the
// caller's script runs on the filtered node.
const filterConfig = `{"allow": ["erlang:node/0", "erlang:md5/1", "timer:sleep/1", "global:register_name/2"]}`

// filterExpr is what a caller on site A does with Y, a node of site B
// whose gateway filters with no-remote-exec. Each step exits with what
// it got when it is not what the policy makes it.
func filterExpr(y string) string {
	return fmt.Sprintf(`
		Y = '%[1]s',
		Denied = fun(F) ->
			try F() of R -> exit({not_denied, R})
			catch error:{erpc, denied} -> denied; error:denied -> denied; C:E -> exit({other, C, E})
			end
		end,
		pong = net_adm:ping(Y),
		%% An allowed call works; denied ones fail at once (their timeout,
		%% a minute, would say {erpc, timeout}).
		Y = erpc:call(Y, erlang, node, [], 60000),
		denied = Denied(fun() -> erpc:call(Y, os, cmd, ["id"], 60000) end),
		denied = Denied(fun() -> erpc:call(Y, erlang, halt, [], 60000) end),
		denied = Denied(fun() -> erpc:call(Y, fun() -> os:cmd("id") end, 60000) end),
		RpcResult = rpc:call(Y, os, cmd, ["id"], 60000),
		case RpcResult of {badrpc, {'EXIT', denied}} -> ok; _ -> exit({rpc, RpcResult}) end,
		%% spawn/4 raises (its spawn reply is an error).
		{error, denied} = try spawn(Y, os, cmd, ["id"]) of SP -> {spawned, SP} catch SC:SE -> {SC, SE} end,
		%% rex's own calls are read as calls: dropped, the call times out.
		{badrpc, timeout} = rpc:block_call(Y, os, cmd, ["id"], 2000),
		%% global across the sites.
		Named = spawn(Y, timer, sleep, [infinity]),
		yes = erpc:call(Y, global, register_name, [distgate_filter_test, Named]),
		ok = global:sync(),
		Named = global:whereis_name(distgate_filter_test),
		%% Monitors, of a pid and of a name; exit/2.
		Mon = spawn(Y, timer, sleep, [infinity]),
		Ref = monitor(process, Mon),
		exit(Mon, kill),
		receive {'DOWN', Ref, process, Mon, killed} -> ok after 20000 -> exit(no_down) end,
		NRef = monitor(process, {echo, Y}),
		true = demonitor(NRef, [flush]),
		%% The atom cache after denials: each denied spawn request defines
		%% new atoms in its header; the next message uses them.
		[begin
			Mod = list_to_atom("fresh_mod_" ++ integer_to_list(I)),
			Fun = list_to_atom("fresh_fun_" ++ integer_to_list(I)),
			denied = Denied(fun() -> erpc:call(Y, Mod, Fun, [], 60000) end),
			{echo, Y} ! {self(), {Mod, Fun}},
			receive {echo, {Mod, Fun}} -> ok after 20000 -> exit({no_echo, Mod}) end
		 end || I <- lists:seq(1, 40)],
		%% 50 MB, in a spawn request's arguments and in a message.
		Bin = crypto:strong_rand_bytes(50 * 1024 * 1024),
		Sum = erlang:md5(Bin),
		Sum = erpc:call(Y, erlang, md5, [Bin], 120000),
		{echo, Y} ! {self(), Bin},
		receive {echo, Back} -> Sum = erlang:md5(Back) after 120000 -> exit(no_echo_50mb) end,
		%% 100,000 small messages while 1 MB messages, sent in fragments,
		%% interleave with them.
		Self = self(),
		Send = fun(Tag, Sink, N, Size) ->
			spawn_link(fun() ->
				C = lists:foldl(fun(I, Ctx) ->
					B = <<I:32, (crypto:strong_rand_bytes(Size))/binary>>,
					{Sink, Y} ! {data, B},
					crypto:hash_update(Ctx, B)
				end, crypto:hash_init(md5), lists:seq(1, N)),
				{Sink, Y} ! {done, Self, Tag},
				Self ! {sent, Tag, crypto:hash_final(C)}
			end)
		end,
		Send(small, sink_small, 100000, 60),
		Send(big, sink_big, 40, 1024 * 1024),
		[receive {sent, Tag, D} -> receive {md5, Tag, D, _} -> ok; {md5, Tag, Other, N} -> exit({Tag, md5, Other, N}) after 120000 -> exit({no_md5, Tag}) end
		 after 120000 -> exit({not_sent, Tag}) end || Tag <- [small, big]],
		%% Still connected, still filtering.
		Y = erpc:call(Y, erlang, node, [], 60000),
		denied = Denied(fun() -> erpc:call(Y, os, cmd, ["id"], 60000) end),
		ok`, y)
}

// TestFilterNoRemoteExec runs real nodes through two gateways; site B
// filters with the no-remote-exec sample: denied calls fail at once,
// allowed ones work, global, monitors, 50 MB and 100,000 messages pass,
// and the atom cache stays consistent after denials.
func TestFilterNoRemoteExec(t *testing.T) {
	t.Parallel()
	a, b := bridgePair(t, "tls", 5*time.Second)
	b.push(t, "filter", policyModule(t, "samples/policies/no-remote-exec"), filterConfig)
	y := startSiteNode(t, b, "y", "-eval", filterSinkExpr)
	out, err := evalAtWithin(t, bulkEvalTimeout, a, "x", filterExpr(y.name))
	if err != nil || out != "ok" {
		t.Fatalf("x on site A: %v\n%s\nsite B log:\n%s", err, out, tail(b.proc.out.String(), 6000))
	}
	denied := b.metric(t, `distgate_filter_decisions_total{action="deny",op="spawn_request"}`)
	if denied < 45 {
		t.Errorf("site B counted %v denied spawn requests, want at least 45", denied)
	}
	if !strings.Contains(b.proc.out.String(), "filter: message refused") {
		t.Errorf("site B logged no refusal:\n%s", tail(b.proc.out.String(), 3000))
	}
	// The refusals are events too, with the message and the reason.
	evs, errOut, code := runCmd(t, nil, distgateBin(t), "events", "-node", y.name, "-config", b.config)
	if code != 0 || !strings.Contains(evs, "filtered") || !strings.Contains(evs, "os:cmd/1") {
		t.Errorf("distgate events: %s%s", evs, errOut)
	}
}

// TestFilterBadStream: a caller that completes the handshake and then
// sends garbage, or a truncated packet, loses its connection; the gateway
// and the filtered node carry on.
func TestFilterBadStream(t *testing.T) {
	t.Parallel()
	a, b := bridgePair(t, "tls", 5*time.Second)
	b.push(t, "filter", policyModule(t, "samples/policies/no-remote-exec"), filterConfig)
	y := startSiteNode(t, b, "y")
	proxy := proxyPort(t, a, y.name)
	for i, tc := range []struct {
		name   string
		packet []byte
		close  bool // half-close after the packet
	}{
		{"garbage", []byte{0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}, false},
		{"bad control message", []byte{0, 0, 0, 5, 131, 'D', 0, 97, 1}, false}, // a header, then 1 is not a tuple
		{"truncated", []byte{0, 0, 4, 0, 131, 'D', 0}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A name of its own: the node may still be calling the
			// previous one back (a simultaneous connection is refused).
			c, err := fakeNode(proxy, fmt.Sprintf("fake%d@%s", i, a.host))
			if err != nil {
				t.Fatalf("handshake with %s: %v\nsite B log:\n%s", y.name, err, tail(b.proc.out.String(), 3000))
			}
			defer c.Close()
			if _, err := c.Write(tc.packet); err != nil {
				t.Fatal(err)
			}
			if tc.close {
				c.(*net.TCPConn).CloseWrite()
			}
			// The connection ends: everything the node sent is read, then
			// EOF or a reset, within the read deadline.
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			_, err = io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the connection is still open after a %s stream", tc.name)
			}
		})
	}
	// Site B's filter ended them, as the node would have.
	for _, why := range []string{"packet without a distribution header", "control message is not a tuple"} {
		waitUntil(t, "site B logs "+why, 30, func() bool { return strings.Contains(b.proc.out.String(), why) })
	}
	// The gateways and the node carry on.
	out, err := evalAt(t, a, "x", fmt.Sprintf(`Y = '%s', Y = erpc:call(Y, erlang, node, [], 60000), ok`, y.name))
	if err != nil || out != "ok" {
		t.Fatalf("after bad streams: %v\n%s\nsite B log:\n%s", err, out, tail(b.proc.out.String(), 3000))
	}
}

// fakeFlags are the distribution flags an OTP 25 node sends (without
// DFLAG_NAME_ME).
const fakeFlags = 0x1 | 0x4 | 0x8 | 0x10 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x1000 | 0x2000 | 0x4000 |
	0x10000 | 0x20000 | 0x40000 | 0x80000 | 0x100000 | 0x400000 | 0x800000 | 0x1000000 | 0x2000000 |
	1<<32 | 1<<34 | 1<<35

// fakeNode dials addr (a proxy port) and does the distribution handshake
// of a node named name, with the tests' cookie; it returns the
// connection, past the handshake.
func fakeNode(addr, name string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
	}
	if _, err := c.Write(frame(handshake.AppendSendNameV6(nil, handshake.SendName{Name: name, Flags: fakeFlags, Creation: 7}))); err != nil {
		return fail(err)
	}
	read := func() ([]byte, error) {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return nil, err
		}
		b := make([]byte, binary.BigEndian.Uint16(n[:]))
		_, err := io.ReadFull(c, b)
		return b, err
	}
	status, err := read()
	if err != nil || string(status) != "sok" {
		return fail(fmt.Errorf("status %q: %v", status, err))
	}
	ch, err := read()
	if err != nil || len(ch) < 19 || ch[0] != 'N' {
		return fail(fmt.Errorf("challenge %q: %v", ch, err))
	}
	digest := func(challenge uint32) []byte {
		d := md5.Sum([]byte(cookie + strconv.FormatUint(uint64(challenge), 10)))
		return d[:]
	}
	theirs := binary.BigEndian.Uint32(ch[9:13])
	const mine = 0x5eed1234
	reply := append(binary.BigEndian.AppendUint32([]byte{'r'}, mine), digest(theirs)...)
	if _, err := c.Write(frame(reply)); err != nil {
		return fail(err)
	}
	ack, err := read()
	if err != nil || len(ack) != 17 || ack[0] != 'a' || string(ack[1:]) != string(digest(mine)) {
		return fail(fmt.Errorf("challenge ack %q: %v", ack, err))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// TestFilterTLSTermination: a node speaking inet_tls_dist reaches a TCP
// node through a gateway that terminates TLS and filters with
// no-remote-exec: the filter reads the handshake as reframed (TLS
// distribution's 4-byte lengths one way, TCP's 2 the other); an allowed
// call and 50 MB pass, a denied call fails at once.
func TestFilterTLSTermination(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	ca := makeTLSFiles(t)
	s, public := edgeSite(t, ca, "")
	s.push(t, "filter", policyModule(t, "samples/policies/no-remote-exec"), filterConfig)
	startNode(t, s.epmdPort, "y")
	expr := `
		Y = 'y@` + shortHost() + `',
		pong = net_adm:ping(Y),
		Y = erpc:call(Y, erlang, node, [], 60000),
		denied = try erpc:call(Y, os, cmd, ["id"], 60000) catch error:{erpc, denied} -> denied end,
		Bin = crypto:strong_rand_bytes(50 * 1024 * 1024),
		Sum = erlang:md5(Bin),
		Sum = erpc:call(Y, erlang, md5, [Bin], 120000),
		ok`
	out, err := tryEvalErlWithin(t, bulkEvalTimeout, public, "x", expr, "-proto_dist", "inet_tls", "-ssl_dist_optfile", tlsCallerConf(t, s, ca, true),
		"-dist_listen", "false", "-hidden")
	if err != nil || out != "ok" {
		t.Fatalf("TLS caller: %v\n%s\ngateway:\n%s", err, out, tail(s.proc.out.String(), 4000))
	}
	if !strings.Contains(s.proc.out.String(), `call="erpc os:cmd/1"`) {
		t.Fatalf("the denial is not in the gateway's log:\n%s", tail(s.proc.out.String(), 4000))
	}
}

// filterCallerExpr is what the called node runs: a process that, told
// {call, From, Node, M, F, A}, calls Node (the caller, over the
// connection the caller opened) and answers with the result.
const filterCallerExpr = `register(caller, spawn(fun L() ->
	receive {call, From, N, M, F, A} ->
		From ! {result, try {ok, erpc:call(N, M, F, A, 60000)} catch C:E -> {C, E} end}, L()
	end end)).`

// TestFilterOutboundRouteSwap: site A's route to site B's nodes has
// filter set, so what a node of B sends back on a connection a node of A
// opened is filtered by A's policy: a call from B fails at once; once A's
// policy is replaced by one that allows it, the verdict cached for that
// call is gone and the same call runs.
func TestFilterOutboundRouteSwap(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl")
	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	a.filterRoutes = true
	a.writeConfig(t, "tls", 5*time.Second, b)
	b.writeConfig(t, "tls", 5*time.Second, a)
	a.start(t)
	b.start(t)
	module := policyModule(t, "samples/policies/no-remote-exec")
	a.push(t, "filter", module, `{}`)
	y := startSiteNode(t, b, "y", "-eval", filterCallerExpr)
	p, lines := startScriptNode(t, a, "x", fmt.Sprintf(`
		Y = '%s',
		pong = net_adm:ping(Y),
		Call = fun() -> {caller, Y} ! {call, self(), node(), erlang, node, []},
			receive {result, R} -> R after 60000 -> timeout end end,
		{error, {erpc, denied}} = Call(),
		io:format("DENIED~n"),
		Loop = fun L(0) -> io:format("STILL DENIED~n");
		           L(N) -> case Call() of {ok, _} -> io:format("ALLOWED~n"); _ -> timer:sleep(200), L(N - 1) end end,
		Loop(300).`, y.name))
	lines.waitLine(t, "DENIED", 60*time.Second, p)
	a.push(t, "filter", module, `{"allow": ["erlang:node/0"]}`)
	if l := lines.waitLine(t, "ALLOWED", 90*time.Second, p); l != "ALLOWED" {
		t.Fatalf("after the swap: %s\nsite A log:\n%s", l, tail(a.proc.out.String(), 3000))
	}
}

// TestFilterHostilePolicy: a filter policy that never returns, with
// policy.filter_on_failure: close, costs connections their deadline and
// then their life, and nothing else: a caller's ping fails (its
// connection is closed), the gateway's admin API and EPMD keep answering,
// and once a sane policy replaces it the same caller gets through.
func TestFilterHostilePolicy(t *testing.T) {
	t.Parallel()
	requireTools(t, "erl", "wat2wasm")
	a, b := newGatewaySite(t, "site-a"), newGatewaySite(t, "site-b")
	b.extra = "policy: {filter_on_failure: close}\n"
	a.writeConfig(t, "tls", 5*time.Second, b)
	b.writeConfig(t, "tls", 5*time.Second, a)
	a.start(t)
	b.start(t)
	b.push(t, "filter", policyModule(t, "e2e/testdata/filter/loop.wat"), "")
	y := startSiteNode(t, b, "y")
	ping := fmt.Sprintf(`net_adm:ping('%s')`, y.name)
	if out, err := evalAt(t, a, "x", ping); err != nil || out != "pang" {
		t.Fatalf("ping through a hostile filter: %v %s\nsite B log:\n%s", err, out, tail(b.proc.out.String(), 3000))
	}
	b.status(t) // the admin API answers
	if _, _, err := b.epmdClient().Names(context.Background()); err != nil {
		t.Fatalf("site B's EPMD: %v", err)
	}
	if !strings.Contains(b.proc.out.String(), "filter_closed") {
		t.Errorf("no relay ended with filter_closed:\n%s", tail(b.proc.out.String(), 3000))
	}
	b.push(t, "filter", policyModule(t, "e2e/testdata/filter/allow_all.wat"), "")
	if out, err := evalAt(t, a, "x2", ping); err != nil || out != "pong" {
		t.Fatalf("ping once the policy is sane: %v %s\nsite B log:\n%s", err, out, tail(b.proc.out.String(), 3000))
	}
}
