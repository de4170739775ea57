package distfilter

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// recorder is a Decider that allows everything and notes each message.
type recorder struct {
	peers Peers
	seen  []string
	deny  func(m *Message) bool
}

func (r *recorder) Connect(p *Peers) Verdict {
	r.peers = *p
	return Verdict{Action: Allow}
}

func (r *recorder) Decide(m *Message) Verdict {
	r.seen = append(r.seen, describe(m))
	if r.deny != nil && r.deny(m) {
		return Verdict{Action: Deny}
	}
	return Verdict{Action: Allow}
}

// describe writes a message as the tests compare it.
func describe(m *Message) string {
	var b strings.Builder
	b.WriteString(m.Op.String())
	if m.Name != nil {
		fmt.Fprintf(&b, " %s", m.Name)
	}
	if m.MFA.Module != nil {
		fmt.Fprintf(&b, " %s:%s/%d", m.MFA.Module, m.MFA.Function, m.MFA.Arity)
	}
	if c := m.Call; c.Via != ViaNone {
		fmt.Fprintf(&b, " [%s %s %s:%s/%d", c.Via, c.Tag, c.MFA.Module, c.MFA.Function, c.MFA.Arity)
		if c.Unknown {
			b.WriteString(" unknown")
		}
		b.WriteString("]")
	}
	return b.String()
}

func capture(t testing.TB, name string) (in, out []byte) {
	t.Helper()
	in, err := os.ReadFile("testdata/" + name + ".in")
	if err != nil {
		t.Fatal(err)
	}
	out, err = os.ReadFile("testdata/" + name + ".out")
	if err != nil {
		t.Fatal(err)
	}
	return in, out
}

// feed runs a capture through a filter in chunks of n bytes: what the
// local node sends first (Out), then what the remote side sends (In).
func feed(t testing.TB, c *Conn, in, out []byte, n int) []byte {
	t.Helper()
	for p := out; len(p) > 0; {
		k := min(n, len(p))
		if err := c.Out(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	var got []byte
	for p := in; len(p) > 0; {
		k := min(n, len(p))
		o, _, err := c.In(p[:k])
		if err != nil {
			t.Fatalf("In: %v", err)
		}
		for _, s := range o {
			got = append(got, s...)
		}
		p = p[k:]
	}
	return got
}

func TestReplayDebug(t *testing.T) {
	for _, name := range []string{"basic", "frag", "rex"} {
		in, out := capture(t, name)
		r := &recorder{}
		c := New(Config{Decider: r})
		got := feed(t, c, in, out, 1<<20)
		if !bytes.Equal(got, in) {
			t.Errorf("%s: output differs", name)
		}
		t.Logf("%s: %+v\n%s", name, r.peers, strings.Join(r.seen, "\n"))
	}
}
