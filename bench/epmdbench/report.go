//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// maxOtherLoad is the share of the CPUs other processes may keep busy
// during a phase before its figures are flagged as disturbed.
const maxOtherLoad = 0.10

// minTicks is the daemon CPU time, in clock ticks, below which a phase's
// CPU per lookup is too coarse to trust (10 ms resolution).
const minTicks = 20

// printTable prints one row per phase, then the errors of each phase.
func printTable(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "daemon\tnames\tclients\tlookups/s\tcpu µs/lookup\tp50 µs\tp99 µs\terrors\tbench cpu µs/lookup\tother load\t")
	for _, r := range rs {
		name := r.daemon
		if r.pace > 0 {
			name += "*"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.1f\t%d\t%d\t%d\t%.1f\t%.0f%%\t\n",
			name, r.names, r.clients, r.rate(), micros(r.cpuPerLookup()),
			percentile(r.lat, 0.50).Microseconds(), percentile(r.lat, 0.99).Microseconds(),
			r.errCount(), micros(r.selfCPU/time.Duration(max(r.ok, 1))), 100*r.otherLoad())
	}
	tw.Flush()
	for _, r := range rs {
		if r.pace > 0 {
			fmt.Fprintf(w, "*: %s paced to start %.0f lookups/s, the stock daemon's rate with %d clients: latency at equal load\n", r.daemon, r.pace, r.clients)
			break
		}
	}
	for _, r := range rs {
		var notes []string
		if r.cpuTicks < minTicks {
			notes = append(notes, fmt.Sprintf("%d clock ticks of daemon CPU: CPU per lookup imprecise", r.cpuTicks))
		}
		if l := r.otherLoad(); l > maxOtherLoad {
			notes = append(notes, fmt.Sprintf("other processes kept %.0f%% of the CPUs busy: figures disturbed", 100*l))
		}
		if len(notes) > 0 {
			fmt.Fprintf(w, "note: %s: %s\n", r.label(), strings.Join(notes, "; "))
		}
		keys := make([]string, 0, len(r.errs))
		for k := range r.errs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "errors: %s: %s: %d\n", r.label(), k, r.errs[k])
		}
	}
}

// label names a phase in notes.
func (r result) label() string {
	s := fmt.Sprintf("%s, %d names, %d clients", r.daemon, r.names, r.clients)
	if r.clients == 1 {
		s = s[:len(s)-1]
	}
	if r.pace > 0 {
		s += ", paced"
	}
	return s
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// percentile returns the q-quantile of sorted by the nearest-rank method;
// 0 when it is empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// bestRows keeps one result per phase, in the order phases first ran:
// over several rounds, the one least disturbed by other processes.
type bestRows struct {
	list []result
}

func (b *bestRows) keep(r result) {
	for i, o := range b.list {
		if o.daemon == r.daemon && o.names == r.names && o.clients == r.clients && (o.pace > 0) == (r.pace > 0) {
			if r.otherLoad() < o.otherLoad() {
				b.list[i] = r
			}
			return
		}
	}
	b.list = append(b.list, r)
}

// get returns the closed-loop result of a phase; a zero result when none.
func (b *bestRows) get(daemon string, names, clients int) result {
	for _, r := range b.list {
		if r.daemon == daemon && r.names == names && r.clients == clients && r.pace == 0 {
			return r
		}
	}
	return result{}
}

// summary is the last line's figures.
type summary struct {
	ratio    float64       // distgate's lookups/s over the stock daemon's
	cpuRatio float64       // the stock daemon's CPU per lookup over distgate's
	p99      time.Duration // distgate's p99
	scale    float64       // distgate's lookups/s with many names over with few
}

// summarize compares the 8-client phases: both daemons at -names, and
// distgate at -bignames.
func summarize(stock, dg, big result) (summary, error) {
	if stock.ok == 0 || dg.ok == 0 || big.ok == 0 {
		return summary{}, errors.New("a phase has no successful lookup")
	}
	// A daemon that used less than a clock tick is counted as one: the
	// ratio is then a lower bound.
	stockCPU := float64(max(stock.cpuTicks, 1)) / float64(stock.ok)
	dgCPU := float64(max(dg.cpuTicks, 1)) / float64(dg.ok)
	return summary{
		ratio:    dg.rate() / stock.rate(),
		cpuRatio: stockCPU / dgCPU,
		p99:      percentile(dg.lat, 0.99),
		scale:    big.rate() / dg.rate(),
	}, nil
}

func (s summary) line() string {
	return fmt.Sprintf("epmd-lookups ratio=%.2f cpu_ratio=%.2f p99_us=%d scale10k=%.2f",
		s.ratio, s.cpuRatio, s.p99.Microseconds(), s.scale)
}
