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

// TestBenchTiny runs the whole benchmark in a tiny configuration (short
// phases, few idle connections) with a distgate built for the test, and
// checks the report's shape. Without erl or stunnel it is skipped, except
// under CI=true, where it fails.
func TestBenchTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Erlang nodes, gateways and stunnel")
	}
	for _, tool := range []string{"erl", "erlc", "stunnel4"} {
		var err error
		if tool == "stunnel4" {
			_, err = lookStunnel(tool)
		} else {
			_, err = exec.LookPath(tool)
		}
		benchutil.NeedTool(t, tool, err)
	}
	dg := benchutil.BuildDistgate(t)

	var stdout, stderr bytes.Buffer
	args := []string{"-distgate", dg, "-distgate-epmd", "../../erlang/distgate_epmd/src",
		"-duration", "300ms", "-rtt-count", "200", "-rounds", "1", "-conns", "20", "-settle", "300ms"}
	if code := doMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("doMain %q = %d\nstdout:\n%s\nstderr:\n%s", args, code, &stdout, &stderr)
	}
	t.Logf("\n%s", &stdout)

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	re := regexp.MustCompile(`^bridge tls_vs_stunnel=(\d+\.\d\d) quic_vs_stunnel=(\d+\.\d\d) tls_vs_otp_tls=(\d+\.\d\d) rtt_tls_vs_direct=(\d+\.\d\d) rss_kib_per_conn=(-?\d+\.\d)$`)
	m := re.FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line %q does not match %v", last, re)
	}
	for i, name := range []string{"tls_vs_stunnel", "quic_vs_stunnel", "tls_vs_otp_tls", "rtt_tls_vs_direct"} {
		if v, err := strconv.ParseFloat(m[i+1], 64); err != nil || v <= 0 {
			t.Errorf("%s=%s: want a positive number (%v)", name, m[i+1], err)
		}
	}
	for _, p := range allPaths {
		if !regexp.MustCompile(`(?m)^ *` + p + `( +\d+){4} `).MatchString(stdout.String()) {
			t.Errorf("no throughput row for %s", p)
		}
	}
	for _, tr := range []string{"tls", "quic"} {
		for _, s := range []string{"site-a", "site-b"} {
			if !regexp.MustCompile(`(?m)^ *` + tr + ` +` + s + ` +20 `).MatchString(stdout.String()) {
				t.Errorf("no memory row for %s %s", tr, s)
			}
		}
	}
}

// TestBenchFilterTiny runs `make bench-filter` in miniature: the three
// filter paths, the table and the last line.
func TestBenchFilterTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Erlang nodes and gateways")
	}
	benchutil.NeedTools(t, "erl", "erlc", "wat2wasm")
	dg := benchutil.BuildDistgate(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-distgate", dg, "-distgate-epmd", "../../erlang/distgate_epmd/src", "-repo", "../..", "-filter",
		"-duration", "300ms", "-rtt-count", "200", "-rounds", "1"}
	if code := doMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("doMain %q = %d\nstdout:\n%s\nstderr:\n%s", args, code, &stdout, &stderr)
	}
	t.Logf("\n%s", &stdout)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	re := regexp.MustCompile(`^filter allow_all_ratio_64k=(\d+\.\d\d) allow_all_ratio_1k=(\d+\.\d\d) rtt_added_us=(-?\d+\.\d)$`)
	if m := re.FindStringSubmatch(lines[len(lines)-1]); m == nil {
		t.Fatalf("last line %q does not match %v", lines[len(lines)-1], re)
	}
	for _, p := range filterPaths {
		if !regexp.MustCompile(`(?m)^ *` + p + `( +\d+){4} `).MatchString(stdout.String()) {
			t.Errorf("no throughput row for %s", p)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, args := range [][]string{
		nil, // -distgate is required
		{"-distgate", "x", "-duration", "10ms"},
		{"-distgate", "x", "-paths", "direct,carrier_pigeon"},
		{"-distgate", "x", "-paths", ""},
		{"-distgate", "x", "-idle", "sctp"},
		{"-distgate", "x", "-conns", "0"},
		{"-distgate", "x", "-window", "1024"},
		{"-distgate", "x", "-rounds", "0"},
		{"-distgate", "x", "-idle-bytes", "0"},
		{"-distgate", "x", "-perf-mode", "flame"},
		{"-distgate", "x", "-gateway-env", "GOMAXPROCS"},
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
	if o.duration != 5*time.Second || o.conns != 500 || len(o.paths) != 6 || len(o.idle) != 2 || o.rounds != 2 || !o.udpBuffers {
		t.Errorf("defaults: %+v", o)
	}
}

func TestParseSenderLine(t *testing.T) {
	for _, c := range []struct {
		line string
		kind string
		nums []int64
	}{
		{"TPUT 1024 2048 2 1500", "TPUT", []int64{1024, 2048, 2, 1500}},
		{"RTT 100 20 40 22", "RTT", []int64{100, 20, 40, 22}},
		{"CONNECT 23778", "CONNECT", []int64{23778}},
		{"BEGIN tput 65536", "BEGIN", nil},
		{"END", "END", nil},
		{"CRASH error:badarg []", "CRASH", nil},
		{"=NOTICE REPORT==== something", "", nil},
	} {
		got, err := parseSenderLine(c.line)
		if err != nil || got.kind != c.kind || len(got.nums) != len(c.nums) {
			t.Errorf("parseSenderLine(%q) = %+v, %v", c.line, got, err)
			continue
		}
		for i := range c.nums {
			if got.nums[i] != c.nums[i] {
				t.Errorf("parseSenderLine(%q) = %v, want %v", c.line, got.nums, c.nums)
			}
		}
	}
	for _, bad := range []string{"TPUT 1 2 3", "RTT a b c d"} {
		if _, err := parseSenderLine(bad); err == nil {
			t.Errorf("parseSenderLine(%q): no error", bad)
		}
	}
}

func TestParseProc(t *testing.T) {
	stat := "cpu  100 5 30 9000 7 1 2 3 40 0\ncpu0 50 0 15 4500 3 0 1 1 20 0\n"
	if got, err := parseSystemTicks([]byte(stat)); err != nil || got != (sysTicks{procs: 135, irq: 3, steal: 3}) {
		t.Errorf("parseSystemTicks = %+v, %v", got, err)
	}
	status := "Name:\tdistgate\nVmPeak:\t  20000 kB\nVmRSS:\t   15608 kB\nThreads:\t8\n"
	if got, err := parseVmRSS([]byte(status)); err != nil || got != 15608 {
		t.Errorf("parseVmRSS = %d, %v", got, err)
	}
}

func TestParseGoStats(t *testing.T) {
	heap := "heap profile: 1: 2 [3: 4] @ heap/1048576\n\n# runtime.MemStats\n# Alloc = 100\n# HeapInuse = 4096000\n# Stack = 655360 / 655360\n"
	st, err := parseGoStats(heap, "goroutine profile: total 42\n1 @ 0x1\n")
	if err != nil || st != (goStats{heapInuse: 4096000, stackInuse: 655360, goroutines: 42}) {
		t.Errorf("parseGoStats = %+v, %v", st, err)
	}
	if _, err := parseGoStats("nothing", "nothing"); err == nil {
		t.Error("parseGoStats of nothing: no error")
	}
}

func TestSummaryLine(t *testing.T) {
	rs := []pathResult{
		{name: pathDirect, tput: map[int]tputResult{65536: {bytes: 2e9, elapsed: time.Second}}, rtt: rttResult{n: 1, p50: 20 * time.Microsecond}},
		{name: pathOTPTLS, tput: map[int]tputResult{65536: {bytes: 1e8, elapsed: time.Second}}},
		{name: pathStunnel, tput: map[int]tputResult{65536: {bytes: 5e8, elapsed: time.Second}}},
		{name: pathDistgateTLS, tput: map[int]tputResult{65536: {bytes: 1e9, elapsed: time.Second}}, rtt: rttResult{n: 1, p50: 30 * time.Microsecond}},
		{name: pathDistgateQUIC, tput: map[int]tputResult{65536: {bytes: 4e8, elapsed: time.Second}}},
	}
	mems := []memResult{{conns: 10, sites: [2]siteMem{{rssBefore: 100, rssAfter: 400}, {rssBefore: 100, rssAfter: 600}}}}
	want := "bridge tls_vs_stunnel=2.00 quic_vs_stunnel=0.80 tls_vs_otp_tls=10.00 rtt_tls_vs_direct=1.50 rss_kib_per_conn=50.0"
	if got := summarize(rs, mems).line(); got != want {
		t.Errorf("summary line:\n got %s\nwant %s", got, want)
	}
	if got := summarize(nil, nil).line(); got != "bridge tls_vs_stunnel=n/a quic_vs_stunnel=n/a tls_vs_otp_tls=n/a rtt_tls_vs_direct=n/a rss_kib_per_conn=n/a" {
		t.Errorf("empty summary line: %s", got)
	}
}
