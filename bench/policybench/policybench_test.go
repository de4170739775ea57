package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/distgate/distgate/bench/internal/benchutil"
)

// TestBenchSmall runs the benchmark in a tiny configuration and checks its
// last line.
func TestBenchSmall(t *testing.T) {
	benchutil.NeedTools(t, "epmd", "wat2wasm")
	bin := benchutil.BuildDistgate(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"-distgate", bin, "-names", "20", "-clients", "2", "-duration", "200ms", "-decisions", "500"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^policy-decision p50_ns=\d+ p99_ns=\d+ epmd_ratio=\d+\.\d\d policy_ratio=\d+\.\d\d$`).MatchString(last) {
		t.Fatalf("last line %q\n%s", last, out.String())
	}
	rows := 0
	for _, l := range lines {
		if strings.Contains(l, "stock epmd,") || strings.Contains(l, "distgate, no policy,") || strings.Contains(l, "distgate + Go") || strings.HasPrefix(strings.TrimSpace(l), "the same, routes never reused") {
			rows++
			if f := strings.Fields(l); f[len(f)-1] != "0" {
				t.Errorf("lookups failed: %q", l)
			}
		}
	}
	if rows != 5 {
		t.Fatalf("no lookup rows:\n%s", out.String())
	}
}
