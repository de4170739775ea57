//go:build linux

package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
)

// TestBenchWANTiny runs the WAN bench in a tiny configuration (scenario
// a, two paths, short phases) and checks the report's shape. It needs
// root (network namespaces, TUN devices): without it, it is skipped;
// without erl under CI=true, it fails.
func TestBenchWANTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a WAN testbed, Erlang nodes and gateways")
	}
	benchutil.NeedTools(t, "erl", "erlc", "ip")
	if os.Geteuid() != 0 {
		t.Skip("the WAN testbed needs root")
	}
	dg := benchutil.BuildDistgate(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-distgate", dg, "-distgate-epmd", "../../erlang/distgate_epmd/src", "-wan", "a",
		"-paths", "direct,distgate_quic", "-duration", "500ms", "-rtt-count", "20", "-rounds", "1"}
	if code := doMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("doMain %q = %d\nstdout:\n%s\nstderr:\n%s", args, code, &stdout, &stderr)
	}
	t.Logf("\n%s", &stdout)
	for _, p := range []string{"direct", "distgate_quic"} {
		if !regexp.MustCompile(`(?m)^ *` + p + ` +\d+\.\d +\d+\.\d\d +n/a +\d+ `).MatchString(stdout.String()) {
			t.Errorf("no row for %s", p)
		}
	}
	re := regexp.MustCompile(`(?m)^wan quic_vs_direct_a=\d+\.\d\d quic_vs_direct_b=n/a quic_vs_direct_c=n/a tls_vs_direct_b=n/a quic_vs_stunnel_b=n/a setup_quic_ms=\d+ setup_quic_rtts=\d+\.\d\d setup_tls_ms=n/a setup_tls_rtts=n/a quic_vs_cubic_a=n/a quic_vs_cubic_b=n/a quic_vs_cubic_c=n/a\n?\z`)
	if !re.MatchString(stdout.String()) {
		t.Errorf("the last line does not match %v", re)
	}
}

func TestWANSummaryLine(t *testing.T) {
	tput := func(p string, mb float64) pathResult {
		return pathResult{name: p, connect: 120 * time.Millisecond, tput: map[int]tputResult{65536: {bytes: int64(mb * 1e6), elapsed: time.Second}}}
	}
	sc := func(n string) scenario { s, _ := scenarioNamed(n); return s }
	all := []wanResult{
		{sc("a"), []pathResult{tput(pathDirect, 40), tput(pathDistgateQUIC, 30)},
			[]linkSetup{{transport: "quic", handshake: []time.Duration{80 * time.Millisecond, 50 * time.Millisecond, 40 * time.Millisecond, 45 * time.Millisecond}},
				{transport: "tls", handshake: []time.Duration{90 * time.Millisecond, 42 * time.Millisecond, 85 * time.Millisecond, 44 * time.Millisecond},
					synData: []bool{false, true, false, true}}}},
		{sc("b"), []pathResult{tput(pathDirect, 20), tput(pathDirectCubic, 10), tput(pathStunnel, 10), tput(pathDistgateTLS, 10), tput(pathDistgateQUIC, 5)}, nil},
	}
	want := "wan quic_vs_direct_a=0.75 quic_vs_direct_b=0.25 quic_vs_direct_c=n/a tls_vs_direct_b=0.50 quic_vs_stunnel_b=0.50 setup_quic_ms=45 setup_quic_rtts=1.12 setup_tls_ms=44 setup_tls_rtts=1.10 quic_vs_cubic_a=n/a quic_vs_cubic_b=0.50 quic_vs_cubic_c=n/a"
	if got := summarizeWAN(all).line(); got != want {
		t.Errorf("wan line:\n got %s\nwant %s", got, want)
	}
	if _, err := parseFlags([]string{"-distgate", "x", "-wan", "d"}, new(bytes.Buffer)); err == nil {
		t.Error("-wan d: no error")
	}
	if _, err := parseFlags([]string{"-distgate", "x", "-tcp-cc", "cubic"}, new(bytes.Buffer)); err == nil {
		t.Error("-tcp-cc without -wan: no error")
	}
	if _, err := parseFlags([]string{"-distgate", "x", "-paths", "direct_cubic"}, new(bytes.Buffer)); err == nil {
		t.Error("-paths direct_cubic without -wan: no error")
	}
	o, err := parseFlags([]string{"-distgate", "x", "-wan", "a,c"}, new(bytes.Buffer))
	if err != nil || len(o.paths) != len(wanPaths) || len(o.idle) != 0 {
		t.Errorf("-wan a,c: %+v, %v", o, err)
	}
}

func TestLinkHandshake(t *testing.T) {
	log := `time=2026-12-02T07:34:52.871Z level=INFO msg="link up" peer=site-a transport=tls remote=198.18.0.1:37630 direction=in liveness=10s
time=2026-12-02T07:34:52.901Z level=INFO msg="link up" peer=site-b transport=quic remote=198.19.0.1:4371 direction=out liveness=10s handshake=41.5ms resumed=false
`
	if d, resumed := linkHandshake(log); d != 41500*time.Microsecond || resumed {
		t.Errorf("linkHandshake = %v, %v", d, resumed)
	}
	if ls := linkHandshakes(log + strings.Replace(log, "resumed=false", "resumed=true", 1)); len(ls) != 2 || ls[0].resumed || !ls[1].resumed {
		t.Errorf("linkHandshakes = %+v", ls)
	}
	tls := `time=2026-12-02T07:34:52.901Z level=INFO msg="link up" peer=site-b transport=tls remote=198.19.0.1:4371 direction=out liveness=10s handshake=41.5ms resumed=true key_exchange=X25519 syn_data=true
time=2026-12-02T07:34:53.901Z level=INFO msg="link up" peer=site-b transport=tls remote=198.19.0.1:4371 direction=out liveness=10s handshake=82ms resumed=false key_exchange=X25519MLKEM768 syn_data=false
`
	if ls := linkHandshakes(tls); len(ls) != 2 || !ls[0].synData || !ls[0].resumed || ls[1].synData || ls[1].d != 82*time.Millisecond {
		t.Errorf("linkHandshakes of TLS links = %+v", ls)
	}
	if d, _ := linkHandshake("nothing"); d != 0 {
		t.Errorf("linkHandshake of nothing = %v", d)
	}
}

func TestParseSNMP(t *testing.T) {
	in := `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 1234
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 10 5 0 0 2 5000 6000 70 0 3 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 900 1 12 800 11 2 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
`
	c, err := parseSNMP(strings.NewReader(in))
	want := netCounters{udpIn: 900, udpOut: 800, udpInErrors: 12, udpRcvbufErrors: 11, udpSndbufErrors: 2, tcpOut: 6000, tcpRetrans: 70}
	if err != nil || c != want {
		t.Errorf("parseSNMP = %+v, %v; want %+v", c, err, want)
	}
	if _, err := parseSNMP(strings.NewReader("Udp: InDatagrams\nUdp: x\n")); err == nil {
		t.Error("parseSNMP of a bad number: no error")
	}
}

func TestTCPInfo(t *testing.T) {
	l := "\t cubic wscale:10,10 rto:244 rtt:41.5/0.8 ato:40 mss:1448 pmtu:1500 rcvmss:536 advmss:1448 cwnd:734 ssthresh:500 bytes_sent:9 segs_out:2000 segs_in:3 data_segs_out:4 retrans:0/17 dsack_dups:1"
	m := tcpInfo.FindStringSubmatch(l)
	if m == nil || m[1] != "41.5" || m[2] != "1448" || m[3] != "734" || m[4] != "2000" {
		t.Errorf("tcpInfo = %q", m)
	}
	if r := tcpRetrans.FindStringSubmatch(l); r == nil || r[1] != "17" {
		t.Errorf("tcpRetrans = %q", r)
	}
}
