//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// printThroughput prints one row per path: delivered throughput at both
// sizes, the round trip, and the connection setup.
func printThroughput(w io.Writer, rs []pathResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\t1 KiB MB/s\t64 KiB MB/s\t1 KiB msgs/s\trtt p50 µs\trtt p99 µs\trtt mean µs\tping-pongs\tsetup ms\t")
	for _, r := range rs {
		k1, k64 := r.tput[sizes[0]], r.tput[sizes[1]]
		msgs := 0.0
		if k1.elapsed > 0 {
			msgs = float64(k1.msgs) / k1.elapsed.Seconds()
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%.1f\t\n", r.name, k1.mbps(), k64.mbps(), msgs,
			r.rtt.p50.Microseconds(), r.rtt.p99.Microseconds(), r.rtt.mean.Microseconds(), r.rtt.n, ms(r.connect))
	}
	tw.Flush()
	fmt.Fprintln(w, "MB/s: 10^6 payload bytes per second delivered at the receiver; setup: the first ping, connection and handshake included")
}

// printCPU prints the CPU of every process of each path during each phase,
// in percent of one core, and for the relays of a throughput phase their
// CPU time per byte delivered.
func printCPU(w io.Writer, rs []pathResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tphase\tsender %\treceiver %\trelay 1 %\tns/B\trelay 2 %\tns/B\tsoftirq %\tother %\trelays\t")
	for _, r := range rs {
		for _, c := range r.cpu {
			var mbps float64
			var size int
			if _, err := fmt.Sscanf(c.phase, "tput %d", &size); err == nil {
				mbps = r.tput[size].mbps()
			}
			cells := []string{r.name, sizeTag(c.phase), pct(c.procs[0]), pct(c.procs[1])}
			for i := range 2 {
				if 2+i < len(c.procs) {
					cells = append(cells, pct(c.procs[2+i]), nsPerByte(c.procs[2+i], mbps))
				} else {
					cells = append(cells, "-", "-")
				}
			}
			cells = append(cells, pct(c.irq), pct(c.other()), strings.Join(r.relays, ", "))
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "CPU from /proc (user+system, all threads) between the phase's start and end, in %% of one core (%d cores); ns/B: relay CPU per delivered byte;\nsoftirq: the machine's irq+softirq time (loopback packet processing, charged to no process); other: every other process of the machine\n", runtime.NumCPU())
	for _, r := range rs {
		for _, c := range r.cpu {
			if o := c.other(); o > maxOther*float64(runtime.NumCPU()) {
				fmt.Fprintf(w, "note: %s %s: other processes used %.0f%% of one core: figures disturbed\n", r.name, sizeTag(c.phase), o)
			}
			if c.steal > maxOther*float64(runtime.NumCPU()) {
				fmt.Fprintf(w, "note: %s %s: the hypervisor took %.0f%% of one core: figures disturbed\n", r.name, sizeTag(c.phase), c.steal)
			}
		}
	}
}

// maxOther is the share of the machine's cores other processes may keep
// busy during a phase before the phase is flagged as disturbed.
const maxOther = 0.10

func pct(p float64) string { return fmt.Sprintf("%.0f", p) }

func nsPerByte(p, mbps float64) string {
	if mbps <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", p/100/(mbps*1e6)*1e9)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printMemory prints, per transport and gateway, the RSS before and after
// the idle connections, and Go's view after a forced GC.
func printMemory(w io.Writer, ms []memResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "idle relays\tgateway\tconns\tRSS before KiB\tRSS after KiB\tRSS KiB/conn\tlive heap KiB/conn\tstacks KiB/conn\tgoroutines/conn\t")
	for _, m := range ms {
		for _, s := range m.sites {
			n := float64(m.conns)
			heap, stack, gor := "-", "-", "-"
			if s.statsErr == nil {
				heap = fmt.Sprintf("%.1f", float64(s.after.heapInuse-s.before.heapInuse)/1024/n)
				stack = fmt.Sprintf("%.1f", float64(s.after.stackInuse-s.before.stackInuse)/1024/n)
				gor = fmt.Sprintf("%.2f", float64(s.after.goroutines-s.before.goroutines)/n)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t\n", m.transport, s.name, m.conns,
				s.rssBefore, s.rssAfter, s.perConn(m.conns), heap, stack, gor)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "RSS: VmRSS of the gateway process; site-a holds the proxy side, site-b dials the node; heap and stacks from the gateway's pprof after a forced GC (taken after the RSS)")
	for _, m := range ms {
		for _, s := range m.sites {
			if s.statsErr != nil {
				fmt.Fprintf(w, "note: %s %s: no Go memory figures: %v\n", m.transport, s.name, s.statsErr)
			}
		}
	}
}

// summary is the last line's figures; NaN where a path was not measured.
type summary struct {
	tlsVsStunnel, quicVsStunnel, tlsVsOTPTLS, rttTLSVsDirect, rssPerConn float64
	// The terminated path against inet_tls_dist end to end.
	termVsOTPTLS, termRTTVsOTPTLS float64
}

func summarize(rs []pathResult, mems []memResult) summary {
	by := map[string]pathResult{}
	for _, r := range rs {
		by[r.name] = r
	}
	k64 := func(p string) float64 {
		r, ok := by[p]
		if !ok {
			return math.NaN()
		}
		return r.tput[sizes[1]].mbps()
	}
	ratio := func(a, b float64) float64 {
		if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
			return math.NaN()
		}
		return a / b
	}
	s := summary{
		tlsVsStunnel:  ratio(k64(pathDistgateTLS), k64(pathStunnel)),
		quicVsStunnel: ratio(k64(pathDistgateQUIC), k64(pathStunnel)),
		tlsVsOTPTLS:   ratio(k64(pathDistgateTLS), k64(pathOTPTLS)),
		rssPerConn:    math.NaN(),
	}
	rtt := func(p string) float64 {
		r, ok := by[p]
		if !ok {
			return math.NaN()
		}
		return float64(r.rtt.p50)
	}
	s.rttTLSVsDirect = ratio(rtt(pathDistgateTLS), rtt(pathDirect))
	s.termVsOTPTLS = ratio(k64(pathTerminate), k64(pathOTPTLS))
	s.termRTTVsOTPTLS = ratio(rtt(pathTerminate), rtt(pathOTPTLS))
	for _, m := range mems {
		if v := m.maxPerConn(); math.IsNaN(s.rssPerConn) || v > s.rssPerConn {
			s.rssPerConn = v
		}
	}
	return s
}

func (s summary) line() string {
	return fmt.Sprintf("bridge tls_vs_stunnel=%s quic_vs_stunnel=%s tls_vs_otp_tls=%s rtt_tls_vs_direct=%s rss_kib_per_conn=%s",
		num(s.tlsVsStunnel, 2), num(s.quicVsStunnel, 2), num(s.tlsVsOTPTLS, 2), num(s.rttTLSVsDirect, 2), num(s.rssPerConn, 1))
}

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// terminateLine ends the terminated path's section.
func (s summary) terminateLine() string {
	return fmt.Sprintf("terminate tls_vs_otp_tls=%s rtt_vs_otp_tls=%s", num(s.termVsOTPTLS, 2), num(s.termRTTVsOTPTLS, 2))
}

// printTerminate is the terminated path's section: its targets and its
// line.
func printTerminate(w io.Writer, s summary) {
	fmt.Fprintln(w, "\nterminated path: an inet_tls_dist node through a gateway that terminates TLS, against inet_tls_dist end to end")
	printGoals(w, []goal{
		{"terminated TLS / inet_tls_dist at 64 KiB", s.termVsOTPTLS, false, 1.5},
		{"round trip terminated / inet_tls_dist (p50)", s.termRTTVsOTPTLS, true, 1},
	})
	fmt.Fprintln(w, s.terminateLine())
}

// goal is one target: v compared with goal, from above or below.
type goal struct {
	name   string
	v      float64
	atMost bool
	goal   float64
}

func printGoals(w io.Writer, goals []goal) {
	for _, t := range goals {
		verdict := "missed"
		switch {
		case math.IsNaN(t.v):
			verdict = "not measured"
		case t.atMost && t.v <= t.goal, !t.atMost && t.v >= t.goal:
			verdict = "met"
		}
		op := ">="
		if t.atMost {
			op = "<="
		}
		fmt.Fprintf(w, "target %-46s %s %-5g %8s  %s\n", t.name, op, t.goal, num(t.v, 2), verdict)
	}
}

// printTargets says which of the targets this run met.
func printTargets(w io.Writer, s summary) {
	printGoals(w, []goal{
		{"distgate TLS / stunnel at 64 KiB", s.tlsVsStunnel, false, 1.5},
		{"distgate TLS / inet_tls_dist at 64 KiB", s.tlsVsOTPTLS, false, 8},
		{"distgate QUIC / stunnel at 64 KiB", s.quicVsStunnel, false, 0.8},
		{"round trip distgate TLS / direct (p50)", s.rttTLSVsDirect, true, 2},
		{"gateway RSS per idle relayed connection, KiB", s.rssPerConn, true, 64},
	})
}
