package wanem

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		line string
		want Command
		str  string // String(); "" means line itself
	}{
		{"show", Command{Op: OpShow}, ""},
		{"  stats\t", Command{Op: OpStats}, "stats"},
		{"partition ab", Command{Op: OpSet, Dir: AtoB, Fields: FieldPartition, Settings: Settings{Partition: true}}, "set ab partition=on"},
		{"heal both", Command{Op: OpSet, Dir: Both, Fields: FieldPartition}, "set both partition=off"},
		{"clear ba", Command{Op: OpSet, Dir: BtoA, Fields: AllFields},
			"set ba delay=0s jitter=0s loss=0% ge=off reorder=0% reorder-delay=0s rate=off queue=default partition=off"},
		{"set ab delay=20ms jitter=2ms loss=0.5%", Command{Op: OpSet, Dir: AtoB, Fields: FieldDelay | FieldJitter | FieldLoss,
			Settings: Settings{Delay: 20 * ms, Jitter: 2 * ms, Loss: 0.005}}, ""},
		{"set both loss=0.005 rate=400mbit queue=256k", Command{Op: OpSet, Dir: Both, Fields: FieldLoss | FieldRate | FieldQueue,
			Settings: Settings{Loss: 0.005, Rate: 400_000_000, Queue: 256 << 10}}, "set both loss=0.5% rate=400mbit queue=262144"},
		{"set ab ge=1%,25%", Command{Op: OpSet, Dir: AtoB, Fields: FieldBurst,
			Settings: Settings{Burst: GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}}}, "set ab ge=1%,25%,100%,0%"},
		{"set ab ge=1%,25%,50%,0.1%", Command{Op: OpSet, Dir: AtoB, Fields: FieldBurst,
			Settings: Settings{Burst: GilbertElliott{P: 0.01, R: 0.25, LossBad: 0.5, LossGood: 0.001}}}, ""},
		{"set ab ge=0,1", Command{Op: OpSet, Dir: AtoB, Fields: FieldBurst}, "set ab ge=off"},
		{"set ab reorder=5% reorder-delay=3ms", Command{Op: OpSet, Dir: AtoB, Fields: FieldReorder | FieldReorderDelay,
			Settings: Settings{Reorder: 0.05, ReorderDelay: 3 * ms}}, ""},
		{"set ba rate=1.5Mbit", Command{Op: OpSet, Dir: BtoA, Fields: FieldRate, Settings: Settings{Rate: 1_500_000}}, "set ba rate=1500kbit"},
		{"set ba rate=64000 queue=4m", Command{Op: OpSet, Dir: BtoA, Fields: FieldRate | FieldQueue,
			Settings: Settings{Rate: 64000, Queue: 4 << 20}}, "set ba rate=64kbit queue=4194304"},
		{"set ba rate=1234 queue=1KiB", Command{Op: OpSet, Dir: BtoA, Fields: FieldRate | FieldQueue,
			Settings: Settings{Rate: 1234, Queue: 1024}}, "set ba rate=1234 queue=1024"},
		{"set ab rate=off partition=on delay=1.5s", Command{Op: OpSet, Dir: AtoB, Fields: FieldRate | FieldPartition | FieldDelay,
			Settings: Settings{Partition: true, Delay: 1500 * ms}}, "set ab delay=1.5s rate=off partition=on"},
		{"set ab loss=0.07%", Command{Op: OpSet, Dir: AtoB, Fields: FieldLoss, Settings: Settings{Loss: 0.0007}}, ""},
	} {
		got, err := ParseCommand(c.line)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", c.line, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseCommand(%q) = %+v; want %+v", c.line, got, c.want)
		}
		str := c.str
		if str == "" {
			str = c.line
		}
		if s := got.String(); s != str {
			t.Errorf("ParseCommand(%q).String() = %q; want %q", c.line, s, str)
		}
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, line := range []string{
		"", "   ", "bogus", "show ab", "stats x", "set", "set ab", "set xy delay=1ms", "partition",
		"partition ab delay=1ms", "clear", "clear ab x", "heal",
		"set ab delay", "set ab delay=", "set ab delay=-1ms", "set ab delay=31s", "set ab delay=1ms delay=2ms",
		"set ab jitter=fast", "set ab color=red", "set ab =1",
		"set ab loss=2", "set ab loss=-1%", "set ab loss=101%", "set ab loss=NaN", "set ab loss=1e-2%", "set ab loss=%",
		"set ab ge=1%", "set ab ge=1%,0", "set ab ge=1%,2%,3%,4%,5%", "set ab ge=1%,x",
		"set ab reorder=1.5",
		"set ab rate=fast", "set ab rate=-5mbit", "set ab rate=1.5bit", "set ab rate=101gbit", "set ab rate=mbit",
		"set ab queue=-1", "set ab queue=2048m", "set ab queue=1.5k", "set ab queue=x",
		"set ab partition=yes",
		"set ab delay=1ms " + strings.Repeat("x", MaxLineBytes),
	} {
		c, err := ParseCommand(line)
		if err == nil {
			t.Errorf("ParseCommand(%q) = %+v; want an error", line, c)
			continue
		}
		if !errors.Is(err, ErrBadCommand) && !errors.Is(err, ErrBadSettings) {
			t.Errorf("ParseCommand(%q): %v; want ErrBadCommand or ErrBadSettings", line, err)
		}
	}
}

func TestCommandApply(t *testing.T) {
	base := Settings{Delay: time.Second, Loss: 0.5, Rate: 1000, Partition: true}
	c, err := ParseCommand("set ab loss=1% queue=1k")
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{Delay: time.Second, Loss: 0.01, Rate: 1000, Queue: 1024, Partition: true}
	if got := c.Apply(base); got != want {
		t.Errorf("Apply = %+v; want %+v", got, want)
	}
	c, _ = ParseCommand("clear ab")
	if got := c.Apply(base); got != (Settings{}) {
		t.Errorf("clear: Apply = %+v; want zero", got)
	}
	// What show prints sets everything back.
	full := Settings{Delay: 3 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.001,
		Burst: GilbertElliott{P: 0.01, R: 0.2, LossBad: 0.9, LossGood: 0.001}, Reorder: 0.02,
		ReorderDelay: 2 * time.Millisecond, Rate: 123_456_789, Queue: 99999, Partition: true}
	c, err = ParseCommand(SetCommand(BtoA, full).String())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Apply(Settings{}); got != full || c.Dir != BtoA {
		t.Errorf("show line %q read back as %+v on %v; want %+v", SetCommand(BtoA, full), got, c.Dir, full)
	}
}

// FuzzParseCommand checks that whatever parses prints back as a line that
// parses into the same command, fits a control line, and gives valid
// settings applied to zero ones. Its seeds run with every `go test`.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"show", "stats", "partition ab", "heal ba", "clear both",
		"set ab delay=20ms jitter=2ms loss=0.5% ge=1%,25%,50%,1% reorder=5% reorder-delay=3ms rate=400mbit queue=256k partition=off",
		"set both rate=1.5gbit queue=1MiB", "set ba loss=0.0000000000001", "set ab loss=1e-300", "set ab loss=0x1p-3",
		"set ab loss=0.333333333333333333333333%", "set ab rate=0009kbit", "set ab delay=1h", "set ab ge=0.5,0.5,0.5",
		"set ab loss=-0", "set ab queue=+5k",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCommand(line)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) && !errors.Is(err, ErrBadSettings) {
				t.Fatalf("ParseCommand(%q): %v: neither ErrBadCommand nor ErrBadSettings", line, err)
			}
			return
		}
		s := c.String()
		if len(s) > MaxLineBytes {
			t.Fatalf("ParseCommand(%q).String() is %d bytes, more than a line", line, len(s))
		}
		c2, err := ParseCommand(s)
		if err != nil {
			t.Fatalf("ParseCommand(%q).String() = %q, which does not parse: %v", line, s, err)
		}
		if c2 != c {
			t.Fatalf("ParseCommand(%q) = %+v, printed %q, read back as %+v", line, c, s, c2)
		}
		if err := c.Apply(Settings{}).Validate(); err != nil {
			t.Fatalf("ParseCommand(%q) applied to zero settings: %v", line, err)
		}
	})
}
