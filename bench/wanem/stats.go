package wanem

import (
	"fmt"
	"strings"
	"time"
)

// DirStats are the counters of one direction since the emulator started.
type DirStats struct {
	Packets, Bytes            uint64 // read from the sending side's device (IP packets)
	Delivered, DeliveredBytes uint64 // written to the receiving side's device
	// Drops counts the packets dropped, by Verdict (Drops[Pass] stays 0).
	Drops    [numVerdicts]uint64
	InFlight int64 // packets held now, queued or delayed
	// KernelDropsIn counts the packets the sending side's kernel dropped
	// because the emulator did not read its device fast enough (the
	// device's tx_dropped); KernelDropsOut those the receiving side's
	// kernel refused (rx_dropped). Both are zero unless the emulator is
	// starved of CPU.
	KernelDropsIn, KernelDropsOut uint64
}

// Dropped returns the packets dropped for any cause.
func (s DirStats) Dropped() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}

// Stats are an emulator's counters and the CPU its process has used.
type Stats struct {
	AB, BA  DirStats
	Elapsed time.Duration // since the emulator started
	// User and System are the CPU time of the whole process (getrusage):
	// the emulator's own when it runs as the wanem command.
	User, System time.Duration
}

// CPUPerPacket returns the process's CPU time divided by the packets read
// in both directions (zero before the first packet).
func (s Stats) CPUPerPacket() time.Duration {
	n := s.AB.Packets + s.BA.Packets
	if n == 0 {
		return 0
	}
	return (s.User + s.System) / time.Duration(n)
}

// String formats the stats as the control protocol's "stats" reply: a
// line per direction, then one of CPU use.
//
//	ab packets=N bytes=N delivered=N delivered_bytes=N in_flight=N drop_partition=N ... drop_write=N kernel_drop_in=N kernel_drop_out=N
//	ba ...
//	cpu elapsed=DURATION user=DURATION system=DURATION per_packet=DURATION
func (s Stats) String() string {
	var b strings.Builder
	for _, d := range []struct {
		name string
		s    DirStats
	}{{"ab", s.AB}, {"ba", s.BA}} {
		fmt.Fprintf(&b, "%s packets=%d bytes=%d delivered=%d delivered_bytes=%d in_flight=%d",
			d.name, d.s.Packets, d.s.Bytes, d.s.Delivered, d.s.DeliveredBytes, d.s.InFlight)
		for v := Verdict(1); v < numVerdicts; v++ {
			fmt.Fprintf(&b, " drop_%s=%d", v, d.s.Drops[v])
		}
		fmt.Fprintf(&b, " kernel_drop_in=%d kernel_drop_out=%d", d.s.KernelDropsIn, d.s.KernelDropsOut)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "cpu elapsed=%v user=%v system=%v per_packet=%v",
		s.Elapsed.Round(time.Millisecond), s.User.Round(time.Microsecond), s.System.Round(time.Microsecond), s.CPUPerPacket())
	return b.String()
}
