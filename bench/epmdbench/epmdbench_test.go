//go:build linux

package main

import (
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
)

// TestBenchTiny runs the whole benchmark in a tiny configuration against
// OTP's epmd and a distgate built for the test. Without epmd it is
// skipped, except under CI=true, where it fails.
func TestBenchTiny(t *testing.T) {
	stock, err := exec.LookPath("epmd")
	benchutil.NeedTool(t, "OTP's epmd", err)
	dg := benchutil.BuildDistgate(t)

	var stdout, stderr bytes.Buffer
	args := []string{"-distgate", dg, "-stock", stock, "-duration", "200ms", "-names", "20", "-bignames", "50", "-rounds", "2"}
	if code := doMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("doMain %q = %d\nstdout:\n%s\nstderr:\n%s", args, code, &stdout, &stderr)
	}
	t.Logf("\n%s", &stdout)

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	re := regexp.MustCompile(`^epmd-lookups ratio=(\d+\.\d\d) cpu_ratio=(\d+\.\d\d) p99_us=(\d+) scale10k=(\d+\.\d\d)$`)
	m := re.FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line %q does not match %v", last, re)
	}
	for i, name := range []string{"ratio", "cpu_ratio", "p99_us", "scale10k"} {
		v, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil || v <= 0 {
			t.Errorf("%s=%s: want a positive number (%v)", name, m[i+1], err)
		}
	}
	for _, row := range []string{"stock", "distgate"} {
		for _, clients := range []string{"1", "8"} {
			// One row per phase, however many rounds ran.
			re := regexp.MustCompile(`(?m)^ *` + row + ` +20 +` + clients + ` `)
			if n := len(re.FindAllString(stdout.String(), -1)); n != 1 {
				t.Errorf("%d table rows for %s with 20 names and %s clients, want 1", n, row, clients)
			}
		}
	}
	if !regexp.MustCompile(`(?m)^ *distgate\* +20 +8 `).MatchString(stdout.String()) {
		t.Errorf("no paced table row for distgate")
	}
	if !regexp.MustCompile(`(?m)^ *distgate +50 +8 `).MatchString(stdout.String()) {
		t.Errorf("no table row for distgate with 50 names")
	}
}

func TestParseFlags(t *testing.T) {
	for _, args := range [][]string{
		nil, // -distgate is required
		{"-distgate", "x", "-names", "0"},
		{"-distgate", "x", "-names", "100", "-bignames", "100"},
		{"-distgate", "x", "-duration", "0s"},
		{"-distgate", "x", "-sources", "254"},
		{"-distgate", "x", "-rounds", "0"},
		{"-distgate", "x", "extra"},
	} {
		if _, err := parseFlags(args, new(bytes.Buffer)); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
	o, err := parseFlags([]string{"-distgate", "bin/distgate"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if o.stock != "epmd" || o.duration != 5*time.Second || o.names != 900 || o.bigNames != 10000 || o.sources != 253 || o.linger || o.rounds != 1 {
		t.Errorf("defaults: %+v", o)
	}
}

func TestParseSystemBusy(t *testing.T) {
	stat := "cpu  100 5 30 9000 7 1 2 3 40 0\ncpu0 50 0 15 4500 3 0 1 1 20 0\n"
	if got, err := parseSystemBusy([]byte(stat)); err != nil || got != 141 {
		t.Errorf("parseSystemBusy = %d, %v; want 141", got, err)
	}
	if _, err := parseSystemBusy([]byte("intr 1 2 3\n")); err == nil {
		t.Error("parseSystemBusy of a line without cpu: no error")
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(s, c.q); got != c.want {
			t.Errorf("percentile(1..100, %v) = %d, want %d", c.q, got, c.want)
		}
	}
	if got := percentile(nil, 0.99); got != 0 {
		t.Errorf("percentile(nil) = %d", got)
	}
}

func TestPort2Reply(t *testing.T) {
	want := []byte{'w', 0, 0x27, 0x11, 'M', 0, 0, 6, 0, 6, 0, 5, 'n', '0', '0', '0', '1', 0, 0}
	if got := port2Reply("n0001", 10001); !bytes.Equal(got, want) {
		t.Errorf("port2Reply = % x, want % x", got, want)
	}
}
