//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/distgate/distgate/bench/wanem"
)

// Where a path's packets die across the WAN (-wan): the counters of each
// hop of the data direction, site A to site B, over the 64 KiB phase.
// For a QUIC link, the packets site-a's quic-go sent, less those the
// emulator dropped (its random loss, its full queue, the devices), are
// what reached site B's kernel; less its UDP receive errors (a full socket
// buffer), what reached site-b's socket; less what site-b's quic-go
// processed (packets_in), those quic-go dropped itself (its queue of
// unprocessed packets is 256 per connection: a gateway starved of CPU
// drops there). Every one of them is a loss to the sender's congestion
// control, which may also declare lost packets that arrived late
// (spurious losses).

// netCounters are a namespace's UDP and TCP counters (/proc/PID/net/snmp
// of a process in it).
type netCounters struct {
	udpIn, udpOut, udpInErrors, udpRcvbufErrors, udpSndbufErrors uint64
	tcpOut, tcpRetrans                                           uint64
}

// readNetCounters reads the counters of pid's network namespace.
func readNetCounters(pid int) (netCounters, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/snmp", pid))
	if err != nil {
		return netCounters{}, err
	}
	defer f.Close()
	return parseSNMP(f)
}

// parseSNMP reads /proc/net/snmp: for each protocol a line of names, then
// one of values.
func parseSNMP(r io.Reader) (netCounters, error) {
	var c netCounters
	want := map[string]*uint64{
		"Udp:InDatagrams": &c.udpIn, "Udp:OutDatagrams": &c.udpOut, "Udp:InErrors": &c.udpInErrors,
		"Udp:RcvbufErrors": &c.udpRcvbufErrors, "Udp:SndbufErrors": &c.udpSndbufErrors,
		"Tcp:OutSegs": &c.tcpOut, "Tcp:RetransSegs": &c.tcpRetrans,
	}
	sc := bufio.NewScanner(r)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if names == nil || names[0] != fields[0] {
			names = fields
			continue
		}
		for i := 1; i < len(fields) && i < len(names); i++ {
			if p, ok := want[fields[0]+names[i]]; ok {
				v, err := strconv.ParseInt(fields[i], 10, 64) // some counters are signed (MaxConn)
				if err != nil {
					return c, fmt.Errorf("snmp %s%s: %w", fields[0], names[i], err)
				}
				*p = uint64(v)
			}
		}
		names = nil
	}
	return c, sc.Err()
}

func (c netCounters) sub(o netCounters) netCounters {
	return netCounters{c.udpIn - o.udpIn, c.udpOut - o.udpOut, c.udpInErrors - o.udpInErrors,
		c.udpRcvbufErrors - o.udpRcvbufErrors, c.udpSndbufErrors - o.udpSndbufErrors,
		c.tcpOut - o.tcpOut, c.tcpRetrans - o.tcpRetrans}
}

// wireSnap is the counters of every hop at one instant.
type wireSnap struct {
	err    error // reading the namespaces' counters
	tx, rx netCounters
	emu    wanem.DirStats // A to B
	sent   linkStat       // site-a's QUIC link (zero on other paths)
	recv   linkStat       // site-b's end of it
}

// wirePhase is what each hop counted during a phase.
type wirePhase struct {
	ok        bool
	err       error
	tx, rx    netCounters
	emu       wanem.DirStats // A to B: packets, delivered, drops by cause
	quicSent  uint64         // site-a's link: packets sent, declared lost
	quicLost  uint64
	quicRecv  uint64 // site-b's: packets processed
	cwndStart uint64 // site-a's congestion window at the phase's start and end
	cwndEnd   uint64
	// The UDP sockets of both namespaces at the phase's end (ss -uam):
	// their buffer sizes and drops.
	sockets []string
	cwnd    []cwndSample // site-a's QUIC link during the phase
}

// snapWire reads the counters of a path's hops: the namespaces of its
// sender and receiver, the emulator, and its gateways' QUIC link.
func (b *bench) snapWire(env *pathEnv, txPid, rxPid int) wireSnap {
	var w wireSnap
	var errTx, errRx error
	w.tx, errTx = readNetCounters(txPid)
	w.rx, errRx = readNetCounters(rxPid)
	w.err = errors.Join(errTx, errRx)
	if b.emu != nil {
		w.emu = b.emu.Stats().AB
	}
	if len(env.sites) == 2 {
		w.sent = quicLink(env.sites[0].linkStats(b.ctx), "out")
		w.recv = quicLink(env.sites[1].linkStats(b.ctx), "in")
	}
	return w
}

func quicLink(ls []linkStat, dir string) linkStat {
	for _, l := range ls {
		if l.Transport == "quic" && l.Direction == dir {
			return l
		}
	}
	return linkStat{}
}

func wireBetween(a, b wireSnap) wirePhase {
	if err := errors.Join(a.err, b.err); err != nil {
		return wirePhase{err: err}
	}
	if b.tx.tcpOut < a.tx.tcpOut || b.rx.udpIn < a.rx.udpIn {
		return wirePhase{err: fmt.Errorf("counters went backwards (tx %+v then %+v)", a.tx, b.tx)}
	}
	p := wirePhase{ok: true, tx: b.tx.sub(a.tx), rx: b.rx.sub(a.rx),
		quicSent: b.sent.PacketsOut - a.sent.PacketsOut, quicLost: b.sent.Lost - a.sent.Lost,
		quicRecv: b.recv.PacketsIn - a.recv.PacketsIn, cwndStart: a.sent.Cwnd, cwndEnd: b.sent.Cwnd}
	p.emu = wanem.DirStats{Packets: b.emu.Packets - a.emu.Packets, Delivered: b.emu.Delivered - a.emu.Delivered,
		KernelDropsIn: b.emu.KernelDropsIn - a.emu.KernelDropsIn, KernelDropsOut: b.emu.KernelDropsOut - a.emu.KernelDropsOut}
	for i := range p.emu.Drops {
		p.emu.Drops[i] = b.emu.Drops[i] - a.emu.Drops[i]
	}
	return p
}

// skmem matches a socket's memory in ss -m: rb (receive buffer), tb (send
// buffer), d (drops).
var skmem = regexp.MustCompile(`skmem:\(r\d+,rb(\d+),t\d+,tb(\d+),.*,d(\d+)\)`)

// udpSockets lists a namespace's UDP sockets with their buffers and drops.
func udpSockets(ctx context.Context, ns wanem.Netns) []string {
	out, err := ns.Command(ctx, "ss", "-uanmH").Output()
	if err != nil {
		return []string{fmt.Sprintf("%s: ss: %v", ns, err)}
	}
	var socks []string
	var local string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 4 && !strings.HasPrefix(f[0], "skmem") {
			local = f[3]
		}
		if m := skmem.FindStringSubmatch(l); m != nil {
			socks = append(socks, fmt.Sprintf("%s rcvbuf=%s sndbuf=%s drops=%s", local, m[1], m[2], m[3]))
		}
	}
	return socks
}

// printWire says where the data direction's packets went on each path.
func printWire(w io.Writer, rtt time.Duration, rs []pathResult) {
	for _, r := range rs {
		p := r.wire
		if p.err != nil {
			fmt.Fprintf(w, "%s: no packet counters: %v\n", r.name, p.err)
		}
		if !p.ok {
			continue
		}
		e := p.emu
		other := e.Drops[wanem.DropOverflow] + e.Drops[wanem.DropWrite] + e.KernelDropsIn + e.KernelDropsOut
		fmt.Fprintf(w, "%s, A to B in the 64 KiB phase: the emulator read %d packets, dropped %d at random, %d at its queue, %d elsewhere (devices, its packet limit); ",
			r.name, e.Packets, e.Drops[wanem.DropLoss]+e.Drops[wanem.DropBurst], e.Drops[wanem.DropQueue], other)
		fmt.Fprintf(w, "site B: UDP in %d, receive errors %d (buffer full %d)", p.rx.udpIn, p.rx.udpInErrors, p.rx.udpRcvbufErrors)
		if p.tx.udpSndbufErrors > 0 {
			fmt.Fprintf(w, ", site A: UDP send-buffer errors %d", p.tx.udpSndbufErrors)
		}
		if p.quicSent > 0 {
			died := int64(p.rx.udpIn) - int64(p.rx.udpInErrors) - int64(p.quicRecv)
			fmt.Fprintf(w, "; QUIC: site-a sent %d, declared %d lost (%.2f%%), site-b processed %d (%d dropped in site-b's process, or not yet read); cwnd %d KB at the start, %d KB at the end",
				p.quicSent, p.quicLost, 100*float64(p.quicLost)/float64(p.quicSent), p.quicRecv, died, p.cwndStart/1000, p.cwndEnd/1000)
		} else if p.tx.tcpOut > 0 {
			fmt.Fprintf(w, "; TCP: site A sent %d segments, retransmitted %d (%.2f%%)", p.tx.tcpOut, p.tx.tcpRetrans, 100*float64(p.tx.tcpRetrans)/float64(p.tx.tcpOut))
		}
		fmt.Fprintln(w)
		for _, s := range p.sockets {
			fmt.Fprintf(w, "  %s UDP socket %s\n", r.name, s)
		}
		printCwnd(w, r.name, rtt, p.cwnd)
	}
}

// cwndSample is a sender's congestion state at one instant of a phase.
type cwndSample struct {
	at         time.Duration // since the phase began
	cwnd       uint64        // bytes
	srtt       time.Duration
	sent, lost uint64 // packets or segments since the phase began; lost: declared lost (QUIC), retransmitted (TCP)
}

// cwndEvery is how often sampleCwnd reads the sender's state.
const cwndEvery = 250 * time.Millisecond

// sampleCwnd reads a sender's state with read every cwndEvery until stop
// is closed, and returns what it read: counters relative to the first
// reading. A failed reading (ok false) is left out.
func (b *bench) sampleCwnd(read func() (cwndSample, bool), stop <-chan struct{}) []cwndSample {
	var out []cwndSample
	start := time.Now()
	var first cwndSample
	t := time.NewTicker(cwndEvery)
	defer t.Stop()
	for {
		if s, ok := read(); ok {
			if len(out) == 0 {
				first = s
			}
			s.at, s.sent, s.lost = time.Since(start), s.sent-first.sent, s.lost-first.lost
			out = append(out, s)
		}
		select {
		case <-t.C:
		case <-stop:
			return out
		case <-b.ctx.Done():
			return out
		}
	}
}

// quicCwnd reads the congestion state of a gateway's QUIC link.
func (b *bench) quicCwnd(s *site) func() (cwndSample, bool) {
	return func() (cwndSample, bool) {
		l := quicLink(s.linkStats(b.ctx), "out")
		return cwndSample{cwnd: l.Cwnd, srtt: l.RTT, sent: l.PacketsOut, lost: l.Lost}, l.Transport != ""
	}
}

// tcpInfo matches what ss -ti says of a TCP connection's sender.
var tcpInfo = regexp.MustCompile(`\brtt:([\d.]+)/.*\bmss:(\d+)\b.*\bcwnd:(\d+)\b.*\bsegs_out:(\d+)\b`)
var tcpRetrans = regexp.MustCompile(`\bretrans:\d+/(\d+)\b`)

// tcpCwnd reads the congestion state of the busiest TCP connection of a
// namespace (ss -ti): on the direct paths, the sender's distribution
// connection.
func (b *bench) tcpCwnd(ns wanem.Netns) func() (cwndSample, bool) {
	return func() (cwndSample, bool) {
		out, err := ns.Command(b.ctx, "ss", "-tinH", "state", "established").Output()
		if err != nil {
			return cwndSample{}, false
		}
		var best cwndSample
		for _, l := range strings.Split(string(out), "\n") {
			m := tcpInfo.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			rtt, _ := strconv.ParseFloat(m[1], 64)
			mss, _ := strconv.ParseUint(m[2], 10, 64)
			cwnd, _ := strconv.ParseUint(m[3], 10, 64)
			segs, _ := strconv.ParseUint(m[4], 10, 64)
			var retrans uint64
			if r := tcpRetrans.FindStringSubmatch(l); r != nil {
				retrans, _ = strconv.ParseUint(r[1], 10, 64)
			}
			if segs > best.sent {
				best = cwndSample{cwnd: cwnd * mss, srtt: time.Duration(rtt * float64(time.Millisecond)), sent: segs, lost: retrans}
			}
		}
		return best, best.sent > 0
	}
}

// printCwnd prints a link's congestion window over a phase, a sample a
// second or so (the largest window of each second, and the losses until
// then), and the Mathis bound of its loss rate: the window a Reno-like
// controller averages at that rate of loss events.
func printCwnd(w io.Writer, name string, rtt time.Duration, ss []cwndSample) {
	if len(ss) < 2 {
		return
	}
	fmt.Fprintf(w, "%s: the sender's congestion window over the 64 KiB phase (KB, the largest of each second; packets declared lost (TCP: retransmitted) so far; srtt ms):", name)
	var peak uint64
	next := time.Second
	for i, s := range ss {
		peak = max(peak, s.cwnd)
		if s.at >= next || i == len(ss)-1 {
			fmt.Fprintf(w, " %.0fs:%d/%d/%.0f", s.at.Seconds(), peak/1000, s.lost, ms(s.srtt))
			peak = 0
			next += time.Second
		}
	}
	fmt.Fprintln(w)
	last := ss[len(ss)-1]
	if last.lost > 0 && last.sent > 0 {
		p := float64(last.lost) / float64(last.sent)
		// Mathis et al.: rate = MSS/RTT * 1.22/sqrt(p); quic-go's packets
		// carry up to 1,452 bytes of UDP payload.
		win := 1.22 / math.Sqrt(p) * 1452
		fmt.Fprintf(w, "%s: loss %.3f%% of packets: Mathis bound %.0f KB of window, %.1f MB/s at %.0f ms\n",
			name, 100*p, win/1000, win/rtt.Seconds()/1e6, ms(rtt))
	}
}
