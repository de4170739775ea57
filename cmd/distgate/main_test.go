package main

import (
	"bytes"
	"strings"
	"testing"
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

func TestAtoi(t *testing.T) {
	for in, want := range map[string]int{"4369": 4369, " 12x": 12, "-3": -3, "+7": 7, "x": 0, "": 0, "99999999999999": 1 << 31} {
		if got := atoi(in); got != want {
			t.Errorf("atoi(%q) = %d, want %d", in, got, want)
		}
	}
}
