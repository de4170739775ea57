package wanem

// The control protocol: one command per line, words separated by blanks,
// one reply per command, made of lines, the last of which is "ok" or
// "error: REASON". See README.md for examples.
//
//	set DIR KEY=VALUE...   change the given settings of DIR (ab, ba, both)
//	partition DIR          set DIR partition=on
//	heal DIR               set DIR partition=off
//	clear DIR              every setting of DIR back to zero (a perfect link)
//	show                   one "set" line per direction with all its settings
//	stats                  one line of counters per direction, one of CPU use
//
// Keys and values (the Settings fields):
//
//	delay=DURATION         Go syntax: 20ms, 1.5s
//	jitter=DURATION
//	loss=PROB              a fraction (0.005) or a percentage (0.5%)
//	ge=P,R[,BAD[,GOOD]]    Gilbert–Elliott; BAD defaults to 100%, GOOD to 0; ge=off
//	reorder=PROB
//	reorder-delay=DURATION 0s means the default (10ms)
//	rate=RATE              bits per second: 400mbit, 1500kbit, 2gbit, 64000; off or 0: unlimited
//	queue=BYTES            123456, 256k (KiB), 4m (MiB); default or 0: DefaultQueue
//	partition=on|off

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxLineBytes bounds a control line, command or reply line.
const MaxLineBytes = 4096

// ErrBadCommand is returned (wrapped) by ParseCommand for a line that is
// not a command.
var ErrBadCommand = errors.New("bad command")

// Op is a control command's operation.
type Op uint8

// The operations. partition, heal and clear are spelled as OpSet.
const (
	OpSet   Op = iota + 1 // change some settings of one or both directions
	OpShow                // report the settings
	OpStats               // report the counters
)

// Field is a set of Settings fields, as a bit mask.
type Field uint16

// The fields, in the order a command spells them.
const (
	FieldDelay Field = 1 << iota
	FieldJitter
	FieldLoss
	FieldBurst
	FieldReorder
	FieldReorderDelay
	FieldRate
	FieldQueue
	FieldPartition
	numFields = iota

	AllFields Field = 1<<numFields - 1
)

var fieldKeys = [numFields]string{"delay", "jitter", "loss", "ge", "reorder", "reorder-delay", "rate", "queue", "partition"}

// Command is a parsed control line.
type Command struct {
	Op       Op
	Dir      Dir      // OpSet: the direction(s) to change
	Fields   Field    // OpSet: which fields of Settings to change
	Settings Settings // OpSet: their new values (the other fields are zero)
}

// Apply returns s with the command's fields changed.
func (c Command) Apply(s Settings) Settings {
	n := c.Settings
	for f := Field(1); f <= FieldPartition; f <<= 1 {
		if c.Fields&f == 0 {
			continue
		}
		switch f {
		case FieldDelay:
			s.Delay = n.Delay
		case FieldJitter:
			s.Jitter = n.Jitter
		case FieldLoss:
			s.Loss = n.Loss
		case FieldBurst:
			s.Burst = n.Burst
		case FieldReorder:
			s.Reorder = n.Reorder
		case FieldReorderDelay:
			s.ReorderDelay = n.ReorderDelay
		case FieldRate:
			s.Rate = n.Rate
		case FieldQueue:
			s.Queue = n.Queue
		case FieldPartition:
			s.Partition = n.Partition
		}
	}
	return s
}

// SetCommand returns the command that sets every field of d to s; its
// String is how "show" reports a direction.
func SetCommand(d Dir, s Settings) Command {
	return Command{Op: OpSet, Dir: d, Fields: AllFields, Settings: s}
}

// String returns the command as a line (without the newline) that
// ParseCommand turns back into the same command.
func (c Command) String() string {
	switch c.Op {
	case OpShow:
		return "show"
	case OpStats:
		return "stats"
	case OpSet:
	default:
		return fmt.Sprintf("op(%d)", c.Op)
	}
	var b strings.Builder
	b.WriteString("set ")
	b.WriteString(c.Dir.String())
	s := c.Settings
	for i := range numFields {
		f := Field(1) << i
		if c.Fields&f == 0 {
			continue
		}
		b.WriteByte(' ')
		b.WriteString(fieldKeys[i])
		b.WriteByte('=')
		switch f {
		case FieldDelay:
			b.WriteString(s.Delay.String())
		case FieldJitter:
			b.WriteString(s.Jitter.String())
		case FieldLoss:
			b.WriteString(formatProb(s.Loss))
		case FieldBurst:
			if !s.Burst.On() {
				b.WriteString("off")
				break
			}
			g := s.Burst
			fmt.Fprintf(&b, "%s,%s,%s,%s", formatProb(g.P), formatProb(g.R), formatProb(g.LossBad), formatProb(g.LossGood))
		case FieldReorder:
			b.WriteString(formatProb(s.Reorder))
		case FieldReorderDelay:
			b.WriteString(s.ReorderDelay.String())
		case FieldRate:
			b.WriteString(formatRate(s.Rate))
		case FieldQueue:
			if s.Queue == 0 {
				b.WriteString("default")
			} else {
				b.WriteString(strconv.Itoa(s.Queue))
			}
		case FieldPartition:
			if s.Partition {
				b.WriteString("on")
			} else {
				b.WriteString("off")
			}
		}
	}
	return b.String()
}

// ParseCommand parses one control line (without its newline). The
// settings of a set command are valid on their own; applied to other
// settings, the result may still need Validate.
func ParseCommand(line string) (Command, error) {
	bad := func(format string, args ...any) (Command, error) {
		return Command{}, fmt.Errorf("wanem: control: %s: %w", fmt.Sprintf(format, args...), ErrBadCommand)
	}
	if len(line) > MaxLineBytes {
		return bad("line longer than %d bytes", MaxLineBytes)
	}
	w := strings.Fields(line)
	if len(w) == 0 {
		return bad("empty line")
	}
	switch w[0] {
	case "show", "stats":
		if len(w) != 1 {
			return bad("%s takes no arguments", w[0])
		}
		if w[0] == "show" {
			return Command{Op: OpShow}, nil
		}
		return Command{Op: OpStats}, nil
	case "set", "partition", "heal", "clear":
	default:
		return bad("unknown command %q", w[0])
	}
	if len(w) < 2 {
		return bad("%s needs a direction (ab, ba or both)", w[0])
	}
	c := Command{Op: OpSet}
	switch w[1] {
	case "ab":
		c.Dir = AtoB
	case "ba":
		c.Dir = BtoA
	case "both":
		c.Dir = Both
	default:
		return bad("direction %q is not ab, ba or both", w[1])
	}
	switch w[0] {
	case "partition", "heal":
		if len(w) != 2 {
			return bad("%s takes only a direction", w[0])
		}
		c.Fields, c.Settings.Partition = FieldPartition, w[0] == "partition"
		return c, nil
	case "clear":
		if len(w) != 2 {
			return bad("clear takes only a direction")
		}
		c.Fields = AllFields
		return c, nil
	}
	if len(w) == 2 {
		return bad("set needs at least one KEY=VALUE")
	}
	for _, kv := range w[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("%q is not KEY=VALUE", kv)
		}
		i := 0
		for i < numFields && fieldKeys[i] != k {
			i++
		}
		if i == numFields {
			return bad("unknown key %q", k)
		}
		f := Field(1) << i
		if c.Fields&f != 0 {
			return bad("key %q given twice", k)
		}
		c.Fields |= f
		if err := parseField(&c.Settings, f, v); err != nil {
			return bad("%s=%s: %v", k, v, err)
		}
	}
	if err := c.Settings.Validate(); err != nil {
		return Command{}, fmt.Errorf("wanem: control: %w", err)
	}
	return c, nil
}

// parseField parses v into the field f of s.
func parseField(s *Settings, f Field, v string) error {
	var err error
	switch f {
	case FieldDelay:
		s.Delay, err = parseDuration(v)
	case FieldJitter:
		s.Jitter, err = parseDuration(v)
	case FieldReorderDelay:
		s.ReorderDelay, err = parseDuration(v)
	case FieldLoss:
		s.Loss, err = parseProb(v)
	case FieldReorder:
		s.Reorder, err = parseProb(v)
	case FieldBurst:
		s.Burst, err = parseGE(v)
	case FieldRate:
		s.Rate, err = parseRate(v)
	case FieldQueue:
		s.Queue, err = parseBytes(v)
	case FieldPartition:
		switch v {
		case "on":
			s.Partition = true
		case "off":
			s.Partition = false
		default:
			err = errors.New("want on or off")
		}
	}
	return err
}
