package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"unicode"
)

// TestEpmdLogEscapesNames: distgate epmd -d writes what local processes
// register (any local user's node names) to the operator's terminal: a
// name's control characters are shown escaped, and cannot forge a line.
func TestEpmdLogEscapesNames(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(newEpmdLogHandler(&b, 1, false)).With("peer", "a\x1b]0;title\x07")
	log.Debug("epmd: registered", "name", "x\x1b[2J\r\nepmd: Mon Jan  1 00:00:00 2025: forged", "port", 1234)
	out := strings.TrimSuffix(b.String(), "\r\n")
	for _, r := range out {
		if unicode.IsControl(r) {
			t.Fatalf("the log line holds %U:\n%q", r, b.String())
		}
	}
	if !strings.Contains(out, `name=x\x1b[2J\r\nepmd:`) || !strings.Contains(out, "port=1234") {
		t.Fatalf("the line: %q", out)
	}
}
