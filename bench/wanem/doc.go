// Package wanem emulates a wide-area link in user space, for tests and
// benchmarks of distgate over latency, loss and partitions on a kernel
// without netem.
//
// An Emulator creates a TUN device in each of two network namespaces (site
// A and site B) and forwards the IP packets between them. Each direction
// has its own Settings, which may change at any time:
//
//   - a one-way delay, and jitter that keeps packets in order;
//   - random loss, and bursty loss after the Gilbert–Elliott model;
//   - reordering: a fraction of packets held back so that later ones pass;
//   - a rate limit in front of a bounded queue, drop-tail;
//   - a partition switch, which drops everything silently (no reset, no
//     ICMP), including packets already in flight;
//
// and both devices have an MTU of 1500 (Config.MTU). The devices take
// addresses from the benchmarking range 198.18.0.0/15: 198.18.0.1 for A,
// 198.19.0.1 for B, on one /15, so that each site reaches the other
// on-link. The namespaces have no other route: nothing leaves them.
//
// # Use from a test or a benchmark
//
// StartTestbed makes the two namespaces and the emulator in one call:
//
//	tb, err := wanem.StartTestbed(wanem.TestbedConfig{
//		AB: wanem.Settings{Delay: 20 * time.Millisecond, Loss: 0.005},
//		BA: wanem.Settings{Delay: 20 * time.Millisecond, Loss: 0.005},
//	})
//	if err != nil { ... }
//	defer tb.Close() // after stopping what runs in the namespaces
//
//	gw := tb.A.Command(ctx, "distgate", "run", "-config", "a.yaml") // a process in site A
//	ln, err := tb.B.Listen("tcp4", tb.B.Addr.String()+":4370")      // a socket in site B
//	c, err := tb.A.Dial(ctx, "tcp4", tb.B.Addr.String()+":4370")
//
//	tb.Emulator.Partition(wanem.AtoB, true) // cut one direction
//	tb.Emulator.Update(wanem.Both, func(s wanem.Settings) wanem.Settings {
//		s.Delay = 200 * time.Millisecond // 40 ms to 400 ms of round trip
//		return s
//	})
//	tb.Emulator.Exec("set both loss=2%") // the control protocol
//	st := tb.Emulator.Stats()            // counters, drops by cause
//
// The command bench/wanem/cmd/wanem runs the same emulator as a process
// with a control socket, for shell users and for benchmarks that want the
// emulator's CPU apart from theirs (see README.md).
//
// # How it works, and what it costs
//
// The impairment logic is pure: a Shaper takes each packet's size and the
// time, draws from the random source it was given, and returns the
// packet's fate (a Verdict) and its delivery time. Packets kept in order
// have non-decreasing delivery times, and so do packets held back, so the
// delay line is two FIFOs of recycled buffers: no heap, no timer and no
// allocation per packet.
//
// Each direction is one goroutine, parked in Go's poller on an epoll set
// of its sending device and a timerfd armed for the next packet due. A
// wake-up reads up to 64 packets, delivers everything due and re-arms the
// timer, which fires at most once per 100 µs: packets due closer together
// are delivered together, up to 100 µs late and never early. A sparse
// packet (a ping) is delivered within the timer's precision (microseconds)
// of its due time.
//
// On a small VM a packet costs roughly 10 µs of CPU in bulk transfers and
// up to 30 µs when a rate limit spaces packets out, most of it in system
// calls: a write to a TUN device runs the receiving namespace's network
// stack, and the transmissions an ACK releases, in the writer's call, so
// the figure includes kernel work that a real link would charge to the
// hosts. Stats reports the process's CPU (getrusage), the packets and
// bytes of each direction, drops by cause, and the drops of the kernel on
// each device, which stay zero unless the emulator is starved of CPU.
package wanem
