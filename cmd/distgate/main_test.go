package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = doMain(args, &o, &e)
	return code, o.String(), e.String()
}

func TestDoMainDispatch(t *testing.T) {
	if code, _, errOut := run("distgate"); code != 2 || !strings.Contains(errOut, "usage:") {
		t.Fatalf("no command: %d %q", code, errOut)
	}
	if code, _, errOut := run("distgate", "nope"); code != 2 || !strings.Contains(errOut, `unknown command "nope"`) {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
	if code, out, _ := run("distgate", "version"); code != 0 || !strings.HasPrefix(out, "distgate ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, _ := run("distgate", "help"); code != 0 {
		t.Fatalf("help: %d", code)
	}
}

// TestNamedEpmd: under the name epmd, the binary is epmd, unless the first
// argument is one of its subcommands.
func TestNamedEpmd(t *testing.T) {
	code, out, errOut := run("/usr/local/bin/epmd", "-bogus")
	if code != 1 || out != "" || errOut != epmdUsageText {
		t.Fatalf("epmd -bogus: %d %q %q", code, out, errOut)
	}
	if code, out, _ := run("epmd", "version"); code != 0 || !strings.HasPrefix(out, "distgate ") {
		t.Fatalf("epmd version: %d %q", code, out)
	}
}

func TestEpmdFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-port"}, {"-port", "0"}, {"-port", "x"}, {"-packet_timeout", "0"}, {"-names", "x"},
		{"-kill", "x"}, {"-stop"}, {"-stop", "a", "b"}, {"-address"}, {"-delay_write"},
	} {
		var o, e bytes.Buffer
		if code := epmdMain("epmd", args, &o, &e); code != 1 || e.String() != epmdUsageText {
			t.Errorf("epmd %v: exit %d, stderr %q", args, code, e.String())
		}
	}
}

// TestAtoi: the values are glibc's, printed by a C program calling atoi.
func TestAtoi(t *testing.T) {
	for in, want := range map[string]int{
		"4369": 4369, " 12x": 12, "-3": -3, "+7": 7, "x": 0, "": 0, " -0012": -12,
		"99999999999999": 276447231, "4294967296": 0, "4294967295": -1,
		"2147483648": -2147483648, "-2147483649": 2147483647,
		"99999999999999999999": -1, "-99999999999999999999": 0,
		"9223372036854775807": -1, "9223372036854775808": -1,
		"-9223372036854775808": 0, "-9223372036854775809": 0,
	} {
		if got := atoi(in); got != want {
			t.Errorf("atoi(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestPacketTimeoutFlag: epmd keeps -packet_timeout in an unsigned int, so
// a negative value is a timeout of about 136 years, and a value whose low
// 32 bits are 0 is refused as 0 is.
func TestPacketTimeoutFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1": time.Second, "60": time.Minute, "-1": 4294967295 * time.Second,
		"-60": 4294967236 * time.Second, "4294967297": time.Second,
	} {
		if got := packetTimeout(atoi(in)); got != want {
			t.Errorf("-packet_timeout %s: %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"4294967296", "-99999999999999999999", "0x10"} {
		var o, e bytes.Buffer
		// -names after it: a daemon never starts, even when the value passes.
		if code := epmdMain("epmd", []string{"-port", "1", "-packet_timeout", in, "-names"}, &o, &e); code != 1 || e.String() != epmdUsageText {
			t.Errorf("epmd -packet_timeout %s: exit %d, stderr %q; want the usage", in, code, e.String())
		}
	}
}
