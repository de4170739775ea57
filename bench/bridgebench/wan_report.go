//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
)

// printWAN prints a scenario's table: per path its 64 KiB throughput and
// its ratios to direct and stunnel, the connection setup, the round trip
// under load, and the CPU of the throughput phase (each relay's per
// delivered byte, and the emulator's).
func printWAN(w io.Writer, r wanResult, rounds int) {
	fmt.Fprintf(w, "scenario %s: %s each way", r.sc.name, r.sc.label)
	if rounds > 1 {
		fmt.Fprintf(w, " (best of %d rounds)", rounds)
	}
	fmt.Fprintln(w)
	by := byPath(r.results)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\t64 KiB MB/s\tvs direct\tvs stunnel\tsetup ms\tsetup RTTs\tloaded rtt p50 ms\tp99 ms\tpings\tsender %\treceiver %\trelay 1 %\tns/B\trelay 2 %\tns/B\temulator %\tµs/pkt\tlost\tqueue drops\tother %\t")
	for _, p := range r.results {
		mbps := p.tput[64<<10].mbps()
		cells := []string{p.name, fmt.Sprintf("%.1f", mbps),
			num(ratio(mbps, k64(by, pathDirect)), 2), num(ratio(mbps, k64(by, pathStunnel)), 2),
			fmt.Sprintf("%.0f", ms(p.connect)), fmt.Sprintf("%.1f", float64(p.connect)/float64(r.sc.rtt())),
			fmt.Sprintf("%.1f", ms(p.rtt.p50)), fmt.Sprintf("%.1f", ms(p.rtt.p99)), fmt.Sprint(p.rtt.n)}
		c := tputCPU(p)
		if c == nil {
			cells = append(cells, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-")
		} else {
			cells = append(cells, pct(c.procs[0]), pct(c.procs[1]))
			for i := range 2 {
				if 2+i < len(c.procs) {
					cells = append(cells, pct(c.procs[2+i]), nsPerByte(c.procs[2+i], mbps))
				} else {
					cells = append(cells, "-", "-")
				}
			}
			perPkt := "-"
			if c.emu.packets > 0 {
				perPkt = fmt.Sprintf("%.1f", c.emu.cpu/100*c.elapsed.Seconds()/float64(c.emu.packets)*1e6)
			}
			cells = append(cells, pct(c.emu.cpu), perPkt, fmt.Sprint(c.emu.lost), fmt.Sprint(c.emu.queueDrops+c.emu.kernDrops), pct(c.other()))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintf(w, "MB/s: 10^6 payload bytes a second at the receiver; setup: the first ping of a fresh path (gateways: the link's dial included), in ms and in round trips;\n")
	fmt.Fprintf(w, "loaded rtt: ping-pongs of a third node while a second one sends 64 KiB messages to the receiver; CPU of the 64 KiB phase in %% of one core (%d cores),\n", runtime.NumCPU())
	for _, p := range r.results {
		if p.linkSetup > 0 {
			fmt.Fprintf(w, "%s: site-a's link handshake %.0f ms, %.2f round trips (resumed: %v)\n", p.name, ms(p.linkSetup), float64(p.linkSetup)/float64(r.sc.rtt()), p.resumed)
		}
		for _, l := range p.links {
			if l.Direction != "out" {
				continue
			}
			fmt.Fprintf(w, "%s: site-a's %s link after the 64 KiB phase: srtt %.1f ms, %.1f MB sent", p.name, l.Transport, ms(l.RTT), float64(l.BytesOut)/1e6)
			if l.PacketsOut > 0 {
				fmt.Fprintf(w, ", congestion window %d KB, %d of %d packets lost (%.2f%%)", l.Cwnd/1000, l.Lost, l.PacketsOut, 100*float64(l.Lost)/float64(l.PacketsOut))
			}
			fmt.Fprintln(w)
		}
	}
	printWire(w, r.sc.rtt(), r.results)
	printSetups(w, r.sc, r.setups)
	fmt.Fprintf(w, "relays: %s; emulator: the WAN emulator (in the bench's process), its CPU per packet, packets it dropped for loss, for a full queue or a full device\n", relayNames(r.results))
}

// tputCPU is the CPU of a path's 64 KiB phase, if sampled.
func tputCPU(p pathResult) *phaseCPU {
	for i := range p.cpu {
		if p.cpu[i].phase == fmt.Sprintf("tput %d", 64<<10) {
			return &p.cpu[i]
		}
	}
	return nil
}

func relayNames(rs []pathResult) string {
	var parts []string
	for _, r := range rs {
		if len(r.relays) > 0 {
			parts = append(parts, r.name+": "+strings.Join(r.relays, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

func byPath(rs []pathResult) map[string]pathResult {
	by := map[string]pathResult{}
	for _, r := range rs {
		by[r.name] = r
	}
	return by
}

// k64 is a path's 64 KiB throughput; NaN when it was not measured.
func k64(by map[string]pathResult, p string) float64 {
	r, ok := by[p]
	if !ok {
		return math.NaN()
	}
	return r.tput[64<<10].mbps()
}

func ratio(a, b float64) float64 {
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// wanSummary is the last line's figures, by scenario name; NaN where not
// measured.
type wanSummary struct {
	quicVsDirect, tlsVsDirect, quicVsStunnel, tlsVsStunnel map[string]float64
	quicVsCubic                                            map[string]float64 // QUIC over direct_cubic
	// Scenario a's (else the first measured): a resumed QUIC and TLS
	// link's handshake (the median of setupResumed), in ms and round
	// trips (setup_quic_ms, setup_tls_ms), how many resumed TLS links
	// carried their ClientHello in the SYN, and the first connection of
	// the QUIC path (link dial, stream, distribution handshake).
	setupQUIC, setupQUICRTTs, setupTLS, setupTLSRTTs float64
	tlsSYNData, tlsResumed                           int
	firstQUIC, firstQUICRTTs                         float64
}

func summarizeWAN(all []wanResult) wanSummary {
	nan := math.NaN()
	s := wanSummary{quicVsDirect: map[string]float64{}, tlsVsDirect: map[string]float64{},
		quicVsStunnel: map[string]float64{}, tlsVsStunnel: map[string]float64{}, quicVsCubic: map[string]float64{},
		setupQUIC: nan, setupQUICRTTs: nan, setupTLS: nan, setupTLSRTTs: nan, firstQUIC: nan, firstQUICRTTs: nan}
	for _, r := range all {
		by := byPath(r.results)
		n := r.sc.name
		s.quicVsDirect[n] = ratio(k64(by, pathDistgateQUIC), k64(by, pathDirect))
		s.tlsVsDirect[n] = ratio(k64(by, pathDistgateTLS), k64(by, pathDirect))
		s.quicVsStunnel[n] = ratio(k64(by, pathDistgateQUIC), k64(by, pathStunnel))
		s.tlsVsStunnel[n] = ratio(k64(by, pathDistgateTLS), k64(by, pathStunnel))
		s.quicVsCubic[n] = ratio(k64(by, pathDistgateQUIC), k64(by, pathDirectCubic))
		if q, ok := by[pathDistgateQUIC]; ok && (n == "a" || math.IsNaN(s.firstQUIC)) {
			s.firstQUIC = ms(q.connect)
			s.firstQUICRTTs = float64(q.connect) / float64(r.sc.rtt())
		}
		for _, l := range r.setups {
			d := medianResumed(l.handshake)
			switch {
			case l.transport == "quic" && (n == "a" || math.IsNaN(s.setupQUIC)):
				s.setupQUIC, s.setupQUICRTTs = ms(d), float64(d)/float64(r.sc.rtt())
			case l.transport == "tls" && (n == "a" || math.IsNaN(s.setupTLS)):
				s.setupTLS, s.setupTLSRTTs = ms(d), float64(d)/float64(r.sc.rtt())
				s.tlsSYNData, s.tlsResumed = synDataCount(l.synData[1:]), len(l.synData)-1
			}
		}
	}
	return s
}

// get is m[k], NaN when absent.
func get(m map[string]float64, k string) float64 {
	if v, ok := m[k]; ok {
		return v
	}
	return math.NaN()
}

func (s wanSummary) line() string {
	return fmt.Sprintf("wan quic_vs_direct_a=%s quic_vs_direct_b=%s quic_vs_direct_c=%s tls_vs_direct_b=%s quic_vs_stunnel_b=%s setup_quic_ms=%s setup_quic_rtts=%s setup_tls_ms=%s setup_tls_rtts=%s quic_vs_cubic_a=%s quic_vs_cubic_b=%s quic_vs_cubic_c=%s",
		num(get(s.quicVsDirect, "a"), 2), num(get(s.quicVsDirect, "b"), 2), num(get(s.quicVsDirect, "c"), 2),
		num(get(s.tlsVsDirect, "b"), 2), num(get(s.quicVsStunnel, "b"), 2), num(s.setupQUIC, 0), num(s.setupQUICRTTs, 2),
		num(s.setupTLS, 0), num(s.setupTLSRTTs, 2),
		num(get(s.quicVsCubic, "a"), 2), num(get(s.quicVsCubic, "b"), 2), num(get(s.quicVsCubic, "c"), 2))
}

// printWANTargets says which of issue 11's targets the run met.
func printWANTargets(w io.Writer, s wanSummary) {
	printGoals(w, []goal{
		{"distgate QUIC / direct at 64 KiB, (a)", get(s.quicVsDirect, "a"), false, 1},
		{"distgate TLS / direct at 64 KiB, (a)", get(s.tlsVsDirect, "a"), false, 1},
		{"distgate QUIC / direct at 64 KiB, (c)", get(s.quicVsDirect, "c"), false, 1},
		{"distgate TLS / direct at 64 KiB, (c)", get(s.tlsVsDirect, "c"), false, 1},
		{"distgate QUIC / stunnel at 64 KiB, (b)", get(s.quicVsStunnel, "b"), false, 1},
		{"distgate TLS / stunnel at 64 KiB, (b)", get(s.tlsVsStunnel, "b"), false, 1},
		{"QUIC link setup, resumed, in round trips", s.setupQUICRTTs, true, 1.5},
		{"TLS link setup, resumed, in round trips", s.setupTLSRTTs, true, 1.5},
	})
	// TLS: a resumed link's ClientHello (an X25519 key share, the
	// ticket) goes in the SYN (TCP Fast Open, gateway/link/fastopen.go);
	// a full handshake is hybrid post-quantum and two round trips.
	fmt.Fprintf(w, "resumed link setup: QUIC %s ms; TLS %s ms (TCP Fast Open: %d of %d resumed TLS links carried their ClientHello in the SYN)\n",
		num(s.setupQUIC, 0), num(s.setupTLS, 0), s.tlsSYNData, s.tlsResumed)
	if s.tlsResumed > 0 && s.tlsSYNData == 0 {
		fmt.Fprintln(w, "warning: no resumed TLS link used TCP Fast Open: its setup took TCP's handshake, then TLS's")
	}
	fmt.Fprintf(w, "distgate QUIC's first connection (link dial, stream, distribution handshake): %s ms, %s round trips\n", num(s.firstQUIC, 0), num(s.firstQUICRTTs, 1))
}
