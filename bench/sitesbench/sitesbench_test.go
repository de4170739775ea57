package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/distgate/distgate/bench/internal/benchutil"
)

// TestBenchSmall runs the benchmark in a tiny configuration and checks its
// report. Without Erlang/OTP it is skipped, except under CI=true, where
// it fails.
func TestBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, eleven gateways and Erlang nodes")
	}
	benchutil.NeedTools(t, "erl", "erlc")
	dir := t.TempDir()
	bins := map[string]string{"distgate": "../../cmd/distgate", "etcd": "go.etcd.io/etcd/server/v3"}
	for name, pkg := range bins {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-distgate", filepath.Join(dir, "distgate"), "-etcd", filepath.Join(dir, "etcd"),
		"-kills", "1", "-propagations", "3", "-names", "20", "-clients", "2", "-duration", "200ms", "-rounds", "1",
		"-agents", "2", "-registrations", "40"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^sites failover_p50_ms=\d+ failover_p99_ms=\d+ propagate_p99_ms=\d+ lookup_ratio=\d+\.\d\d rss_mib_10k=\d+\.\d$`).MatchString(last) {
		t.Fatalf("last line %q\n%s", last, out.String())
	}
	rows := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "  standalone,") || strings.HasPrefix(l, "  agent a") {
			rows++
			if f := strings.Fields(l); f[len(f)-1] != "0" {
				t.Errorf("lookups failed: %q", l)
			}
		}
	}
	if rows != 3 {
		t.Fatalf("want 3 lookup rows:\n%s", out.String())
	}
}
