package distfilter

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// ready returns a filter of a connection node a dialled to the local node
// b, past the handshake.
func ready(t testing.TB, d Decider, l Limits) *Conn {
	t.Helper()
	fromA, fromB := handshake(dflags)
	c := New(Config{Decider: d, Limits: l})
	if err := c.Out(fromB); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.In(fromA)
	if err != nil || !bytes.Equal(flatten(out), fromA) {
		t.Fatalf("handshake: %v, passed %q", err, flatten(out))
	}
	return c
}

func flatten(spans [][]byte) []byte {
	var b []byte
	for _, s := range spans {
		b = append(b, s...)
	}
	return b
}

// run feeds data in chunks of n bytes and returns what passed and the
// replies, or the first error.
func run(c *Conn, data []byte, n int) (passed []byte, replies [][]byte, err error) {
	for p := data; len(p) > 0; {
		k := min(n, len(p))
		out, rep, err := c.In(p[:k])
		if err != nil {
			return passed, replies, err
		}
		passed = append(passed, flatten(out)...)
		for _, r := range rep {
			replies = append(replies, bytes.Clone(r))
		}
		p = p[k:]
	}
	return passed, replies, nil
}

// receive decodes a stream as the receiving node would (a filter that
// allows everything) and returns the messages it saw.
func receive(t testing.TB, stream []byte) []string {
	t.Helper()
	r := &recorder{}
	c := ready(t, r, Limits{})
	if _, _, err := run(c, stream, 1<<30); err != nil {
		t.Fatalf("the receiver cannot decode the filtered stream: %v", err)
	}
	return r.seen
}

var chunks = []int{1, 3, 17, 512, 1 << 16, 1 << 30}

func TestReplayPassesEveryByte(t *testing.T) {
	want := map[string][]string{
		"basic": {"spawn_request erpc:execute_call/4 [erpc execute_call os:getpid/0]", "spawn_request timer:sleep/1",
			"spawn_request erpc:execute_cast/3 [erpc execute_cast erlang:node/0]", "reg_send global_name_server", "monitor net_kernel"},
		"frag": {"spawn_request erpc:execute_call/4 [erpc execute_call erlang:md5/1]", "reg_send sink"},
		"rex": {"reg_send rex [gen_call block_call erlang:node/0]", "reg_send rex [gen_call call erlang:node/0]",
			"reg_send rex [info call erlang:node/0]"},
	}
	for name, lines := range want {
		in, out := capture(t, name)
		var first []string
		for _, n := range chunks {
			r := &recorder{}
			c := New(Config{Decider: r})
			got := feed(t, c, in, out, n)
			if !bytes.Equal(got, in) {
				t.Fatalf("%s in chunks of %d: %d bytes passed of %d, or changed", name, n, len(got), len(in))
			}
			if first == nil {
				first = r.seen
			} else if !slices.Equal(first, r.seen) {
				t.Fatalf("%s in chunks of %d decodes otherwise:\n%s\nvs\n%s", name, n, r.seen, first)
			}
			if r.peers.Remote.Name != "a@127.0.0.1" || r.peers.Local.Name != "b@127.0.0.1" || r.peers.Flags&0x2000 == 0 {
				t.Fatalf("%s: peers %+v", name, r.peers)
			}
		}
		for _, l := range lines {
			if !slices.Contains(first, l) {
				t.Errorf("%s: no %q among\n%s", name, l, strings.Join(first, "\n"))
			}
		}
	}
}

// TestDenyKeepsAtomCache denies messages of real captures whose headers
// define atom cache entries that later messages use: the filtered stream
// must decode whole at the receiver, with the denied messages replaced.
func TestDenyKeepsAtomCache(t *testing.T) {
	for _, name := range []string{"basic", "frag", "rex"} {
		in, out := capture(t, name)
		for _, n := range []int{1, 512, 1 << 30} {
			r := &recorder{deny: func(m *Message) bool {
				return m.Op == OpRegSend || m.Op == OpSpawnRequest || m.Op == OpMonitor
			}}
			c := New(Config{Decider: r})
			got := feed(t, c, in, out, n)
			st := c.Stats()
			if st.Denied == 0 || st.Replaced == 0 || st.Replies == 0 {
				t.Fatalf("%s: %+v: nothing denied, replaced or replied", name, st)
			}
			seen := receive(t, got[len(handshakeOf(t, in)):])
			var kept []string
			for _, s := range r.seen {
				if !strings.HasPrefix(s, "reg_send") && !strings.HasPrefix(s, "spawn_request") && !strings.HasPrefix(s, "monitor ") && s != "monitor" {
					kept = append(kept, s)
				}
			}
			var recv []string
			for _, s := range seen {
				if s != "reg_send undefined" {
					recv = append(recv, s)
				}
			}
			if !slices.Equal(kept, recv) {
				t.Fatalf("%s in chunks of %d: the receiver saw\n%s\nwant\n%s", name, n, strings.Join(recv, "\n"), strings.Join(kept, "\n"))
			}
			if replaced := len(seen) - len(recv); uint64(replaced) != st.Replaced {
				t.Fatalf("%s: %d replacements seen, %d counted", name, replaced, st.Replaced)
			}
		}
	}
}

// handshakeOf returns the handshake at the start of a capture of what the
// dialling node sent (its two messages).
func handshakeOf(t testing.TB, in []byte) []byte {
	t.Helper()
	o := newObserver(2, true)
	n, err := o.feed(in)
	if err != nil || !o.done {
		t.Fatalf("no handshake in the capture: %v", err)
	}
	return in[:n]
}

func TestSpawnRequestDeniedGetsReply(t *testing.T) {
	node := atomT("a@h")
	req := reference(cref(0), 100)
	from := pid(cref(0), 55)
	ctl := tuple(small(dopSpawnRequest), req, from, pid(cref(0), 1), tuple(cref(1), cref(2), small(1)), nilT())
	p := pkt(hdr(ref{ix: 300, text: "a@h", def: true}, ref{ix: 1, text: "os", def: true}, ref{ix: 2, text: "cmd", def: true}),
		ctl, list(atomT("id")))
	r := &recorder{deny: func(*Message) bool { return true }}
	c := ready(t, r, Limits{})
	passed, replies, err := run(c, p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 1 {
		t.Fatalf("%d replies", len(replies))
	}
	// The request's header defines three entries: it is replaced by a
	// message that defines them.
	seen := receive(t, passed)
	if !slices.Equal(seen, []string{"reg_send undefined"}) {
		t.Fatalf("receiver saw %v", seen)
	}
	want := pkt([]byte{versionMagic, hdrNormal, 0},
		tuple(small(dopSpawnReply), reference(node, 100), pid(node, 55), small(0), atomT(SpawnDenied)))
	if !bytes.Equal(replies[0], want) {
		t.Fatalf("reply\n%v\nwant\n%v", replies[0], want)
	}
	if r.seen[0] != "spawn_request os:cmd/1" {
		t.Fatalf("decided %v", r.seen)
	}
}

// TestFragmentsOfDeniedMessageDropped interleaves a fragmented message
// with others; denying it drops every fragment and keeps its header's
// cache entries, which the next message uses.
func TestFragmentsOfDeniedMessageDropped(t *testing.T) {
	toName := func(name []byte) []byte { return tuple(small(dopRegSend), pid(cref(0), 1), atomT(""), name) }
	first := pkt(hdrKind(hdrFragment, 7, 3, false, ref{ix: 5, text: "a@h", def: true}, ref{ix: 6, text: "secret", def: true}),
		toName(cref(1)), binT(10))
	other := pkt(hdr(ref{ix: 5, text: "a@h"}, ref{ix: 9, text: "open", def: true}), toName(cref(1)), small(1))
	f2 := pkt(cont(7, 2), make([]byte, 100))
	f1 := pkt(cont(7, 1), make([]byte, 50))
	uses := pkt(hdr(ref{ix: 5, text: "a@h"}, ref{ix: 6, text: "secret"}), toName(cref(1)), small(2))
	stream := cat(first, other, f2, pkt(), other, f1, uses)
	for _, n := range chunks {
		r := &recorder{deny: func(m *Message) bool { return bytes.Equal(m.Name, []byte("secret")) }}
		c := ready(t, r, Limits{})
		passed, _, err := run(c, stream, n)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"reg_send secret", "reg_send open", "reg_send open", "reg_send secret"}
		if !slices.Equal(r.seen, want) {
			t.Fatalf("chunks of %d: decided %v", n, r.seen)
		}
		seen := receive(t, passed)
		if !slices.Equal(seen, []string{"reg_send undefined", "reg_send open", "reg_send open"}) {
			t.Fatalf("chunks of %d: receiver saw %v", n, seen)
		}
		if bytes.Contains(passed, f2) || bytes.Contains(passed, f1) {
			t.Fatalf("a fragment of the denied message passed")
		}
		if !bytes.Contains(passed, pkt()) {
			t.Fatalf("the tick did not pass")
		}
	}
}

func TestBadStreams(t *testing.T) {
	good := pkt(hdr(), tuple(small(dopSend), atomT(""), pid(atomT("b@h"), 1)), small(1))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"not a header", pkt([]byte{1, 2, 3})},
		{"unknown header", pkt([]byte{versionMagic, 'Q', 0})},
		{"undefined cache entry", pkt(hdr(ref{ix: 44, text: "x"}), tuple(small(dopSend)))},
		{"cache ref beyond table", pkt(hdr(ref{ix: 1, text: "x", def: true}), tuple(small(dopRegSend), pid(atomT("a"), 1), atomT(""), cref(1)), nilT())},
		{"not a tuple", pkt(hdr(), small(2))},
		{"operation not small", pkt(hdr(), tuple(atomT("x")))},
		{"wrong arity", pkt(hdr(), tuple(small(dopLink), atomT("a")))},
		{"name not an atom", pkt(hdr(), tuple(small(dopRegSend), pid(atomT("a"), 1), atomT(""), small(1)), nilT())},
		{"compressed control", pkt(hdr(), []byte{tagCompressed, 0, 0, 0, 4, 120, 156, 1, 2, 3})},
		{"truncated control", pkt(hdr(), []byte{tagSmallTuple, 3, tagSmallInt})},
		{"bad atom in header", pkt(hdr(ref{ix: 1, text: "\xff\xfe", def: true}), good[4:])},
		{"fragment of unknown sequence", pkt(cont(99, 1), []byte{1})},
		{"pass-through after headers", cat(good, pkt([]byte{passThrough, versionMagic}, tuple(small(dopLink), atomT("a"), atomT("b"))))},
		{"spawn id not a ref", pkt(hdr(), tuple(small(dopSpawnRequest), small(1), pid(atomT("a"), 1), pid(atomT("a"), 1), tuple(atomT("m"), atomT("f"), small(0)), nilT()), nilT())},
	} {
		for _, n := range []int{1, 1 << 20} {
			c := ready(t, &recorder{}, Limits{})
			_, _, err := run(c, tc.data, n)
			var be *BadError
			if !errors.As(err, &be) {
				t.Errorf("%s (chunks of %d): %v, want a BadError", tc.name, n, err)
			}
			if _, _, err2 := c.In(good); err2 == nil {
				t.Errorf("%s: the filter goes on after an error", tc.name)
			}
		}
	}
}

// TestTruncatedStreamHolds feeds every prefix of a capture: a stream cut
// anywhere is never an error (more may come), and what passed is a
// prefix of it.
func TestTruncatedStreamHolds(t *testing.T) {
	in, out := capture(t, "rex")
	for i := 0; i <= len(in); i++ {
		c := New(Config{Decider: &recorder{}})
		if err := c.Out(out); err != nil {
			t.Fatal(err)
		}
		passed, _, err := run(c, in[:i], 1<<20)
		if err != nil {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
		if !bytes.HasPrefix(in, passed) {
			t.Fatalf("prefix of %d bytes: passed bytes not a prefix", i)
		}
	}
}

func TestLimits(t *testing.T) {
	msg := func(seq uint64) []byte {
		return pkt(hdrKind(hdrFragment, seq, 2, false), tuple(small(dopSend), atomT(""), pid(atomT("b@h"), 1)), small(1))
	}
	c := ready(t, &recorder{}, Limits{MaxSequences: 3})
	if _, _, err := run(c, cat(msg(1), msg(2), msg(3)), 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(c, msg(4), 1<<20); err == nil {
		t.Fatal("a fourth sequence in flight was accepted")
	}
	// A control message that does not fit MaxHold closes; one that
	// fits with a long payload behind it passes in pieces.
	big := pkt(hdr(), tuple(small(dopSend), binT(2000), pid(atomT("b@h"), 1)), small(1))
	c = ready(t, &recorder{}, Limits{MaxHold: 1000})
	if _, _, err := run(c, big, 100); err == nil {
		t.Fatal("a control message over MaxHold was accepted")
	}
	long := pkt(hdr(), tuple(small(dopSend), atomT(""), pid(atomT("b@h"), 1)), binT(50000))
	c = ready(t, &recorder{}, Limits{MaxHold: 1000})
	passed, _, err := run(c, long, 700)
	if err != nil || !bytes.Equal(passed, long) {
		t.Fatalf("a long payload: %v, %d of %d bytes", err, len(passed), len(long))
	}
}

func TestCallShapes(t *testing.T) {
	a := atomT("b@h")
	regSend := func(name string, payload []byte) []byte {
		return pkt(hdr(), tuple(small(dopRegSend), pid(a, 1), atomT(""), atomT(name)), payload)
	}
	spawn := func(m, f string, args []byte) []byte {
		return pkt(hdr(), tuple(small(dopSpawnRequest), reference(a, 1), pid(a, 1), pid(a, 2), tuple(atomT(m), atomT(f), small(9)), nilT()), args)
	}
	exportFun := []byte{tagExport}
	exportFun = append(append(append(exportFun, atomT("os")...), atomT("cmd")...), small(1)...)
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{regSend("rex", tuple(atomT("$gen_call"), tuple(pid(a, 1), reference(a, 2)), tuple(atomT("call"), atomT("os"), atomT("cmd"), list(atomT("id")), pid(a, 3)))),
			"reg_send rex [gen_call call os:cmd/1]"},
		{regSend("rex", tuple(atomT("$gen_cast"), tuple(atomT("cast"), atomT("os"), atomT("cmd"), nilT(), pid(a, 3)))),
			"reg_send rex [gen_cast cast os:cmd/0]"},
		{regSend("rex", tuple(pid(a, 1), tuple(atomT("call"), latin("file"), atomT("delete"), list(nilT()), pid(a, 3)))),
			"reg_send rex [info call file:delete/1]"},
		{regSend("rex", tuple(pid(a, 1), atomT("features_request"))), "reg_send rex"},
		{regSend("x", tuple(pid(a, 1), tuple(atomT("a"), small(1), small(2), nilT()))), "reg_send x"},
		{regSend("x", binT(10)), "reg_send x"},
		{spawn("erpc", "execute_call", list(reference(a, 1), atomT("os"), atomT("cmd"), list(atomT("id")))),
			"spawn_request erpc:execute_call/4 [erpc execute_call os:cmd/1]"},
		{spawn("erpc", "execute_cast", list(atomT("os"), atomT("cmd"), list(atomT("id")))),
			"spawn_request erpc:execute_cast/3 [erpc execute_cast os:cmd/1]"},
		{spawn("erlang", "apply", list(atomT("os"), atomT("cmd"), nilT())),
			"spawn_request erlang:apply/3 [apply apply os:cmd/0]"},
		{spawn("erlang", "apply", list(exportFun, list(atomT("id")))),
			"spawn_request erlang:apply/2 [apply apply os:cmd/1]"},
		{spawn("erlang", "apply", list(small(1), nilT())),
			"spawn_request erlang:apply/2 [apply apply :/0 unknown]"},
		{spawn("erpc", "execute_call", list(small(1), small(2), small(3), small(4))),
			"spawn_request erpc:execute_call/4 [erpc execute_call :/0 unknown]"},
		// The arity is the argument list's, whatever the request says.
		{spawn("os", "cmd", list(atomT("id"))), "spawn_request os:cmd/1"},
		{spawn("erpc", "execute_call", cat(binary4(4), reference(a, 1), atomT("os"))),
			"spawn_request erpc:execute_call/4 [erpc execute_call :/0 unknown]"},
	} {
		r := &recorder{}
		c := ready(t, r, Limits{})
		if _, _, err := run(c, tc.data, 1<<20); err != nil {
			t.Errorf("%s: %v", tc.want, err)
			continue
		}
		if len(r.seen) != 1 || r.seen[0] != tc.want {
			t.Errorf("decided %v, want %q", r.seen, tc.want)
		}
	}
	// A call beyond MaxCallBytes is unknown.
	huge := regSend("rex", tuple(atomT("$gen_call"), binT(5000), tuple(atomT("call"), atomT("os"), atomT("cmd"), nilT(), pid(a, 3))))
	r := &recorder{}
	c := ready(t, r, Limits{MaxCallBytes: 1000})
	if _, _, err := run(c, huge, 300); err != nil || r.seen[0] != "reg_send rex [gen_call  :/0 unknown]" {
		t.Fatalf("%v %v", err, r.seen)
	}
}

// binary4 starts a LIST_EXT of n elements without them: a list cut short.
func binary4(n uint32) []byte { return []byte{tagList, 0, 0, 0, byte(n)} }

func TestOutBoundary(t *testing.T) {
	fromA, fromB := handshake(dflags)
	c := New(Config{Decider: &recorder{}})
	if c.Boundary(fromB) != -1 {
		t.Fatal("a boundary during the handshake")
	}
	if err := c.Out(fromB[:5]); err != nil {
		t.Fatal(err)
	}
	if err := c.Out(fromB[5:]); err != nil {
		t.Fatal(err)
	}
	_ = fromA
	p1, p2 := pkt(hdr(), small(1)), pkt(hdr(), binT(100))
	if c.Boundary(p1) != 0 {
		t.Fatal("no boundary right after the handshake")
	}
	stream := cat(p1, p2)
	if err := c.Out(stream[:3]); err != nil {
		t.Fatal(err)
	}
	if got := c.Boundary(stream[3:]); got != len(p1)-3 {
		t.Fatalf("boundary %d, want %d", got, len(p1)-3)
	}
	if err := c.Out(stream[3:20]); err != nil {
		t.Fatal(err)
	}
	if got := c.Boundary(stream[20:]); got != len(stream)-20 {
		t.Fatalf("boundary %d, want %d", got, len(stream)-20)
	}
	if got := c.Boundary(stream[20:30]); got != -1 {
		t.Fatalf("boundary %d within a short write", got)
	}
}

// TestConnectVerdicts: a connection the Decider passes unfiltered is not
// decoded (garbage passes); one it closes ends.
func TestConnectVerdicts(t *testing.T) {
	fromA, fromB := handshake(dflags)
	off := deciderFunc(func(*Peers) Verdict { return Verdict{Action: Allow, Unfiltered: true} })
	c := New(Config{Decider: off})
	c.Out(fromB)
	garbage := []byte("not distribution at all")
	passed, _, err := run(c, cat(fromA, garbage), 5)
	if err != nil || !bytes.Equal(passed, cat(fromA, garbage)) {
		t.Fatalf("unfiltered: %v %q", err, passed)
	}
	closer := deciderFunc(func(*Peers) Verdict { return Verdict{Action: Close, Reason: "no"} })
	c = New(Config{Decider: closer})
	c.Out(fromB)
	_, _, err = run(c, cat(fromA, garbage), 1<<20)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Reason != "no" {
		t.Fatalf("closed connection: %v", err)
	}
}

type deciderFunc func(*Peers) Verdict

func (f deciderFunc) Connect(p *Peers) Verdict  { return f(p) }
func (f deciderFunc) Decide(m *Message) Verdict { return Verdict{Action: Allow} }
