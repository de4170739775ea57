//go:build linux

// Command epmdbench compares OTP's epmd with distgate's on the lookup path
// that matters to a busy cluster: PORT_PLEASE2, one TCP connection per
// lookup, as OTP's erl_epmd asks.
//
//	go run ./bench/epmdbench -distgate bin/distgate [-stock epmd] [-duration 5s]
//	                         [-names 900] [-bignames 10000] [-max-lookups N]
//	                         [-rounds 1] [-sources 253] [-linger]
//
// It starts both daemons as its own children on free loopback ports, holds
// -names ALIVE2 registrations open on each (900 by default: the stock
// daemon's select loop tops out near 1,000 connections), and runs
// PORT_PLEASE2 lookups from 1 and from 8 concurrent clients, each phase for
// -duration (and at most -max-lookups lookups). Then it registers up to
// -bignames names on distgate alone and measures it again. With -rounds N
// every phase runs N times, the daemons still taking turns, and each row
// shows the run during which other processes kept the CPUs least busy.
//
// Each lookup is a new TCP connection, from a source address taken round
// robin in 127.0.0.2..127.0.0.254 (-sources) with IP_BIND_ADDRESS_NO_PORT,
// so that the kernel picks the port at connect. The client reads until the
// daemon closes and then closes normally, as OTP's client does. The daemon
// closes first, so TIME_WAIT stays on its side; many source addresses keep
// new SYNs off the 4-tuples it holds. -sources 0 (one address) and
// -linger (close with RST) are there to compare.
//
// Closed-loop clients load a faster daemon harder, which costs it latency
// on shared cores; so distgate is also measured with its 8 clients paced
// to the stock daemon's 8-client rate (the row marked *).
//
// For every phase it prints lookups per second, the daemon's own CPU time
// per lookup (utime+stime from /proc/PID/stat: with the load generator on
// the same cores this is the fair measure of a daemon), p50 and p99
// latency (dial to close) and the errors; then this process's own CPU
// per lookup and the share of the CPUs other processes kept busy (from
// /proc/stat): a phase above 10% is flagged as disturbed, since the
// daemons and the clients compete for the same cores. The last line sums
// it up:
//
//	epmd-lookups ratio=R cpu_ratio=C p99_us=P scale10k=S
//
// ratio is distgate's lookups/s over the stock daemon's (900 names, 8
// clients), cpu_ratio the stock daemon's CPU per lookup over distgate's,
// p99_us distgate's p99 with 8 clients, and scale10k distgate's lookups/s
// at -bignames names over its lookups/s at -names names (8 clients).
//
// The command reads /proc and uses Linux socket options: it builds on
// Linux only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(doMain(os.Args[1:], os.Stdout, os.Stderr))
}

// Client counts of the phases; the summary line is taken at bigClients.
const (
	smallClients = 1
	bigClients   = 8
)

// options are the command's flags.
type options struct {
	distgate   string
	stock      string
	duration   time.Duration
	names      int
	bigNames   int
	maxLookups int64
	sources    int
	linger     bool
	rounds     int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("epmdbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.distgate, "distgate", "", "path of the distgate binary (required)")
	fs.StringVar(&o.stock, "stock", "epmd", "OTP's epmd: a path, or a name looked up in PATH")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per phase")
	fs.IntVar(&o.names, "names", 900, "registrations held on both daemons (the stock epmd holds about 1,000 connections)")
	fs.IntVar(&o.bigNames, "bignames", 10000, "registrations held on distgate in the last phases")
	fs.Int64Var(&o.maxLookups, "max-lookups", 2_000_000, "most lookups per phase")
	fs.IntVar(&o.sources, "sources", 253, "source addresses 127.0.0.2.. the lookups are spread over (0: 127.0.0.1, ports picked by the kernel)")
	fs.IntVar(&o.rounds, "rounds", 1, "times each phase is run, taking turns; a row shows the round least disturbed by other processes")
	fs.BoolVar(&o.linger, "linger", false, "set SO_LINGER 0 after reading the reply (close with RST, no TIME_WAIT)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.distgate == "":
		return o, errors.New("-distgate PATH is required")
	case o.duration <= 0:
		return o, errors.New("-duration must be positive")
	case o.names < 1 || o.names > maxNames:
		return o, fmt.Errorf("-names must be in 1..%d", maxNames)
	case o.bigNames <= o.names || o.bigNames > maxNames:
		return o, fmt.Errorf("-bignames must be in %d..%d", o.names+1, maxNames)
	case o.sources < 0 || o.sources > 253:
		return o, errors.New("-sources must be in 0..253")
	case o.maxLookups < 1:
		return o, errors.New("-max-lookups must be positive")
	case o.rounds < 1:
		return o, errors.New("-rounds must be positive")
	}
	return o, nil
}

func doMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "epmdbench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "epmdbench: %v\n", err)
		return 1
	}
	return 0
}

// run starts the daemons, loads them and runs the phases. Every daemon it
// started is stopped before it returns, whatever happened.
func run(ctx context.Context, o options, stdout io.Writer) error {
	stockPath, err := exec.LookPath(o.stock)
	if err != nil {
		return fmt.Errorf("stock epmd: %w", err)
	}
	if _, err := os.Stat(o.distgate); err != nil {
		return fmt.Errorf("distgate: %w", err)
	}
	fds := o.bigNames + bigClients + 64
	lim, err := ensureFileLimit(fds)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "epmdbench: %d CPUs, RLIMIT_NOFILE soft=%d hard=%d (need %d), %s per phase, at most %d lookups, %d round(s)\n",
		cpuCount(), lim.Cur, lim.Max, fds, o.duration, o.maxLookups, o.rounds)
	src := "127.0.0.1, ports picked by the kernel"
	if o.sources > 0 {
		src = fmt.Sprintf("127.0.0.2..127.0.0.%d round robin, IP_BIND_ADDRESS_NO_PORT", 1+o.sources)
	}
	fmt.Fprintf(stdout, "lookups: a new connection each, read until close, then close (SO_LINGER 0: %v); sources %s\n", o.linger, src)

	stock, err := startDaemon(ctx, "stock", stockPath, "-port")
	if err != nil {
		return err
	}
	defer stock.stop()
	dg, err := startDaemon(ctx, "distgate", o.distgate, "epmd", "-port")
	if err != nil {
		return err
	}
	defer dg.stop()
	fmt.Fprintf(stdout, "stock:    %s (pid %d, port %d)\ndistgate: %s (pid %d, port %d)\n",
		stockPath, stock.pid(), stock.port, o.distgate, dg.pid(), dg.port)

	stockRegs, err := registerRange(ctx, stock, 1, o.names)
	if err != nil {
		return err
	}
	defer stockRegs.close()
	dgRegs, err := registerRange(ctx, dg, 1, o.names)
	if err != nil {
		return err
	}
	defer dgRegs.close()

	measure := func(d *daemon, regs *registrations, clients int, rate float64) (result, error) {
		if err := regs.check(ctx, d); err != nil {
			return result{}, err
		}
		r, err := runPhase(ctx, phase{daemon: d, names: regs.names(), ports: regs.ports(), clients: clients,
			duration: o.duration, max: o.maxLookups, sources: o.sources, linger: o.linger, rate: rate})
		if err != nil {
			return r, err
		}
		if err := regs.check(ctx, d); err != nil {
			return r, fmt.Errorf("after the %s phase with %d clients: %w", d.name, clients, err)
		}
		return r, nil
	}
	var rows bestRows
	// The daemons take turns, so that both see the machine in the same
	// state; the idle one only holds its registrations.
	for range o.rounds {
		var stock8 result
		for _, c := range []int{smallClients, bigClients} {
			rs, err := measure(stock, stockRegs, c, 0)
			if err != nil {
				return err
			}
			rows.keep(rs)
			rd, err := measure(dg, dgRegs, c, 0)
			if err != nil {
				return err
			}
			rows.keep(rd)
			stock8 = rs
		}
		// Closed-loop clients load a faster daemon harder: compare latency
		// at the stock daemon's rate as well. The summary keeps the closed
		// loop.
		rp, err := measure(dg, dgRegs, bigClients, stock8.rate())
		if err != nil {
			return err
		}
		rows.keep(rp)
	}
	stockRegs.close() // the stock daemon sits out the last phases
	more, err := registerRange(ctx, dg, o.names+1, o.bigNames)
	if err != nil {
		return err
	}
	dgRegs.merge(more)
	for range o.rounds {
		for _, c := range []int{smallClients, bigClients} {
			r, err := measure(dg, dgRegs, c, 0)
			if err != nil {
				return err
			}
			rows.keep(r)
		}
	}
	results := rows.list
	stock8 := rows.get(stock.name, o.names, bigClients)
	dg8 := rows.get(dg.name, o.names, bigClients)
	big8 := rows.get(dg.name, o.bigNames, bigClients)
	printTable(stdout, results)
	s, err := summarize(stock8, dg8, big8)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s.line())
	return nil
}
