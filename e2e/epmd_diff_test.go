package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
)

// These tests run the same bytes against OTP's epmd and distgate and
// require the same answer: the reply bytes, and whether the daemon closed
// the connection. Values that must differ (the daemon's port, descriptor
// numbers, creations drawn from the clock) are normalised first.

func alive2(name string, high uint16, extra []byte) []byte {
	return epmd.Alive2{Port: 5000, NodeType: 'M', HighVsn: high, LowVsn: 5, Name: name, Extra: extra}.Append(nil)
}

func frame(payload []byte) []byte { return epmd.AppendFrame(nil, payload) }

// rawFrame frames with a declared length that may lie.
func rawFrame(n int, payload []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(n)), payload...)
}

type rawCase struct {
	name string
	raw  []byte
}

func classicRawCases() []rawCase {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	cases := []rawCase{
		{"nothing sent", nil},
		{"half a header", []byte{0}},
		{"length 0", []byte{0, 0}},
		{"length 3058", rawFrame(3058, nil)},
		{"length 65535", rawFrame(65535, []byte("n"))},
		{"length 3057", frame(append([]byte("n"), long("x", 3056)...))},
		{"more than declared", append(frame([]byte("n")), 'x')},
		{"less than declared", rawFrame(5, []byte("zab"))},
		{"names", frame([]byte("n"))},
		{"names with a body", frame([]byte("nabc"))},
		{"dump", frame([]byte("d"))},
		{"kill with nodes", frame([]byte("k"))},
		{"stop, not relaxed", frame([]byte("sfoo"))},
		{"stop, no name", frame([]byte("s"))},
		{"port_please2 empty", frame([]byte("z"))},
		{"port_please2 NUL", frame([]byte("z\x00"))},
		{"port_please2 NUL inside", frame([]byte("za\x00b"))},
		{"port_please2 two NULs", frame([]byte("za\x00\x00"))},
		{"port_please2 trailing NUL", frame([]byte("zheld\x00"))},
		{"port_please2 found", frame([]byte("zheld"))},
		{"port_please2 not found", frame([]byte("znosuch"))},
		{"port_please2 bad UTF-8", frame([]byte("za\xffb"))},
		{"port_please2 overlong", frame([]byte("z\xc0\xaf"))},
		{"port_please2 surrogate", frame([]byte("z\xed\xa0\x80"))},
		{"port_please2 254 code points", frame([]byte("z" + long("é", 254)))},
		{"port_please2 255 code points", frame([]byte("z" + long("a", 255)))},
		{"alive2 13 bytes", frame(alive2("", 6, nil))},
		{"alive2 name past the end", frame(mustHexE("78 1388 4d 00 0006 0005 0009 616263 0000"))},
		{"alive2 extra past the end", frame(mustHexE("78 1388 4d 00 0006 0005 0003 616263 0009 00"))},
		{"alive2 NUL in name", frame(alive2("a\x00c", 6, nil))},
		{"alive2 name 1021 bytes", frame(alive2(long("a", 1021), 6, nil))},
		{"alive2 name 256 code points", frame(alive2(long("b", 256), 6, nil))},
		{"alive2 name not UTF-8", frame(alive2("a\xff", 6, nil))},
		{"alive2 extra 1021 bytes", frame(alive2("bigextra", 6, make([]byte, 1021)))},
		{"alive2 duplicate v6", frame(alive2("held", 6, nil))},
		{"alive2 duplicate v5", frame(alive2("held", 5, nil))},
		{"alive2 duplicate v0", frame(alive2("held", 0, nil))},
		{"alive2 ok v6", frame(alive2("fresh6", 6, []byte("xtra")))},
		{"alive2 ok v5", frame(alive2("fresh5", 5, nil))},
		{"alive2 empty name with a trailing byte", frame(append(alive2("", 6, nil), 'Z'))},
		{"alive2 trailing bytes", frame(append(alive2("trail", 6, nil), 1, 2, 3))},
		{"unknown 'a' (old ALIVE_REQ)", frame([]byte("a\x13\x88held"))},
		{"unknown 'p' (old PORT_REQ)", frame([]byte("pheld"))},
		{"unknown '?'", frame([]byte("?"))},
		{"unknown 0", frame([]byte{0})},
		{"unknown 255", frame([]byte{255, 1, 2})},
	}
	return cases
}

func mustHexE(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// normalise hides what legitimately differs between two daemons: the
// NAMES/DUMP port header, descriptor numbers, and clock-drawn creations.
func normalise(reply []byte, port int, t0 time.Time) string {
	s := string(reply)
	if len(reply) >= 4 && binary.BigEndian.Uint32(reply) == uint32(port) {
		s = "<port>" + s[4:]
	}
	s = regexp.MustCompile(`fd = \d+`).ReplaceAllString(s, "fd = <fd>")
	if len(reply) == 4 && reply[0] == 'y' && reply[1] == 0 {
		// counter % 3 + 1 of a counter drawn from the clock
		if c := binary.BigEndian.Uint16(reply[2:]); c >= 1 && c <= 3 {
			s = "y\x00<creation 1..3>"
		}
	}
	if len(reply) == 6 && reply[0] == 'v' && reply[1] == 0 {
		c := int64(binary.BigEndian.Uint32(reply[2:]))
		if d := c - t0.Unix(); d >= 0 && d <= 30 {
			s = "v\x00<creation near now>"
		}
	}
	return fmt.Sprintf("%q", s)
}

// TestClassicProtocolMatchesStockEpmd sends every case to both daemons.
func TestClassicProtocolMatchesStockEpmd(t *testing.T) {
	t.Parallel()
	stock, _ := startStockEpmd(t)
	ours, _ := startDistgateEpmd(t)
	t0 := time.Now()
	// A node "held" stays registered on both for the whole test.
	for _, port := range []int{stock, ours} {
		c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(frame(alive2("held", 6, []byte{1, 2})))
		if _, err := c.Read(make([]byte, 6)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range classicRawCases() {
		var got [2]string
		for i, port := range []int{stock, ours} {
			reply, open := rawExchange(t, port, tc.raw, 300*time.Millisecond)
			got[i] = fmt.Sprintf("%s open=%v", normalise(reply, port, t0), open)
		}
		if got[0] != got[1] {
			t.Errorf("%s:\n stock epmd: %s\n distgate:   %s", tc.name, got[0], got[1])
		}
	}
}

// session runs a sequence of steps on one daemon and returns a transcript.
type session struct {
	t     *testing.T
	port  int
	t0    time.Time
	conns map[string]net.Conn
	log   bytes.Buffer
}

func newSession(t *testing.T, port int) *session {
	s := &session{t: t, port: port, t0: time.Now(), conns: map[string]net.Conn{}}
	t.Cleanup(func() {
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

// register sends ALIVE2 on a connection kept under key; it logs the reply
// and returns the creation.
func (s *session) register(key, name string, high uint16) uint32 {
	c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(s.port))
	if err != nil {
		s.t.Fatal(err)
	}
	s.conns[key] = c
	c.Write(frame(alive2(name, high, nil)))
	n := 4
	if high >= 6 {
		n = 6
	}
	b := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(b); err != nil {
		s.t.Fatalf("register %s: %v", name, err)
	}
	fmt.Fprintf(&s.log, "register %s v%d: %s result %d\n", name, high, b[:1], b[1])
	if high >= 6 {
		return binary.BigEndian.Uint32(b[2:])
	}
	return uint32(binary.BigEndian.Uint16(b[2:]))
}

func (s *session) closeConn(key, name string, garbage bool) {
	c := s.conns[key]
	if garbage {
		c.Write([]byte("junk"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(make([]byte, 8))
		fmt.Fprintf(&s.log, "garbage on %s: read %d closed=%v\n", name, n, err != nil)
	}
	c.Close()
	delete(s.conns, key)
	waitGone(s.t, s.port, name)
}

func (s *session) request(what string, raw []byte) {
	reply, open := rawExchange(s.t, s.port, raw, 300*time.Millisecond)
	fmt.Fprintf(&s.log, "%s: %s open=%v\n", what, normalise(reply, s.port, s.t0), open)
}

// TestRegistrationLifeMatchesStockEpmd compares creations, NAMES order and
// DUMP contents through a life of registrations and unregistrations.
func TestRegistrationLifeMatchesStockEpmd(t *testing.T) {
	t.Parallel()
	stock, _ := startStockEpmd(t)
	ours, _ := startDistgateEpmd(t)
	var transcripts [2]string
	for i, port := range []int{stock, ours} {
		s := newSession(t, port)
		c1 := s.register("a1", "alpha", 6)
		s.register("b", "beta", 6)
		s.register("g", "gamma", 5)
		s.register("dup", "beta", 6) // refused, connection kept
		s.request("names", frame([]byte("n")))
		s.closeConn("a1", "alpha", false)
		s.closeConn("g", "gamma", true)
		c2 := s.register("a2", "alpha", 6)
		fmt.Fprintf(&s.log, "alpha creation step %d\n", int64(c2)-int64(c1))
		v5a := s.register("g2", "gamma", 5)
		s.closeConn("g2", "gamma", false)
		v5b := s.register("g3", "gamma", 5)
		// The values depend on the clock; their order does not.
		fmt.Fprintf(&s.log, "gamma v5 creations in 1..3: %v, step %d\n", v5a >= 1 && v5a <= 3 && v5b >= 1 && v5b <= 3, (int(v5b)-int(v5a)+3)%3)
		s.register("o", "oldie", 6)
		s.closeConn("o", "oldie", false)
		s.request("names", frame([]byte("n")))
		s.request("dump", frame([]byte("d")))
		s.request("port_please2 alpha", frame([]byte("zalpha")))
		s.closeConn("dup", "never-registered", false)
		s.request("names after closing the refused connection", frame([]byte("n")))
		transcripts[i] = s.log.String()
	}
	if transcripts[0] != transcripts[1] {
		t.Fatalf("transcripts differ\n--- stock epmd:\n%s\n--- distgate:\n%s", transcripts[0], transcripts[1])
	}
	t.Logf("transcript:\n%s", transcripts[1])
}

// TestStopMatchesStockEpmd compares STOP in relaxed mode.
func TestStopMatchesStockEpmd(t *testing.T) {
	t.Parallel()
	stock, _ := startStockEpmd(t, "-relaxed_command_check")
	ours, _ := startDistgateEpmd(t, "-relaxed_command_check")
	var transcripts [2]string
	for i, port := range []int{stock, ours} {
		s := newSession(t, port)
		s.register("v", "victim", 6)
		s.request("stop unknown", frame([]byte("snosuch")))
		s.request("stop with NUL", frame([]byte("svictim\x00junk")))
		c := s.conns["v"]
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(make([]byte, 1))
		fmt.Fprintf(&s.log, "victim's connection: read %d closed=%v\n", n, err != nil)
		s.request("port_please2 victim", frame([]byte("zvictim")))
		s.request("stop empty", frame([]byte("s")))
		s.request("dump", frame([]byte("d")))
		transcripts[i] = s.log.String()
	}
	if transcripts[0] != transcripts[1] {
		t.Fatalf("transcripts differ\n--- stock epmd:\n%s\n--- distgate:\n%s", transcripts[0], transcripts[1])
	}
}

// TestCLIMatchesStockEpmd runs OTP's epmd and `distgate epmd` with the same
// arguments against the same daemons and requires the same stdout, stderr
// and exit code.
func TestCLIMatchesStockEpmd(t *testing.T) {
	t.Parallel()
	requireTools(t, "epmd")
	dg := distgateBin(t)
	stockD, _ := startStockEpmd(t)
	oursD, _ := startDistgateEpmd(t)
	down := freePort(t)
	for _, port := range []int{stockD, oursD} {
		s := newSession(t, port)
		s.register("cli", "clinode", 6)
	}
	type run struct {
		env  []string
		args []string
	}
	var runs []run
	for _, port := range []int{stockD, oursD, down} {
		p := strconv.Itoa(port)
		env := []string{"ERL_EPMD_PORT=" + p}
		runs = append(runs,
			run{env, []string{"-names"}},
			run{nil, []string{"-port", p, "-names"}},
			run{env, []string{"-started"}},
			run{env, []string{"-dump"}},
			run{env, []string{"-kill"}},
			run{env, []string{"-stop", "clinode"}},
			run{env, []string{"-d", "-names"}},
		)
	}
	runs = append(runs,
		run{nil, []string{"-bogus"}},
		run{nil, []string{"-port"}},
		run{nil, []string{"-port", "abc", "-names"}},
		run{nil, []string{"-names", "extra"}},
		run{nil, []string{"-stop"}},
		run{nil, []string{"-kill", "now"}},
		run{nil, []string{"-packet_timeout", "0"}},
		// atoi's int cut to 32 bits: 0, a usage error (-names after it, so
		// that no daemon starts if the value were taken).
		run{nil, []string{"-port", strconv.Itoa(down), "-packet_timeout", "4294967296", "-names"}},
		run{nil, []string{"-port", strconv.Itoa(down), "-packet_timeout", "-99999999999999999999", "-names"}},
		run{nil, []string{"-port", strconv.Itoa(down), "-packet_timeout", "-1", "-names"}},
		run{nil, []string{"-stop", strings.Repeat("n", 1001)}},
	)
	norm := func(s string) string {
		s = regexp.MustCompile(`fd = \d+`).ReplaceAllString(s, "fd = <fd>")
		return regexp.MustCompile(`port \d+ with`).ReplaceAllString(s, "port <port> with")
	}
	for _, r := range runs {
		env := append([]string{"ERL_EPMD_PORT=", "ERL_EPMD_RELAXED_COMMAND_CHECK="}, r.env...)
		so, se, sc := runCmd(t, env, "epmd", r.args...)
		do, de, dc := runCmd(t, env, dg, append([]string{"epmd"}, r.args...)...)
		if norm(so) != norm(do) || se != de || sc != dc {
			t.Errorf("%v %v:\n stock:    exit %d stdout %q stderr %q\n distgate: exit %d stdout %q stderr %q", r.env, r.args, sc, so, se, dc, do, de)
		}
	}
}
