//go:build linux

// Command wanem runs the userspace WAN emulator of package wanem between
// two network namespaces, and talks to a running one over its control
// socket.
//
//	wanem run -a NS_A -b NS_B [-create] [-control PATH] [-both SETTINGS]
//	    [-ab SETTINGS] [-ba SETTINGS] [-mtu 1500] [-seed N] [-max-packets N]
//	    [-addr-a 198.18.0.1/15] [-addr-b 198.19.0.1/15] [-dev wan0] [-stats-every D]
//	    [-cpuprofile FILE]
//	wanem ctl [-control PATH] [COMMAND...]
//
// run creates a TUN device in each namespace (with -create, the namespaces
// too, deleted at exit), forwards between them with the settings given
// (SETTINGS as in the control protocol: "delay=20ms loss=0.5%"; -both
// first, then -ab and -ba on top), serves the control protocol on a Unix
// socket, prints
//
//	ready a=NS_A/198.18.0.1 b=NS_B/198.19.0.1 control=PATH
//
// and runs until SIGINT or SIGTERM, when it prints its stats. ctl sends
// COMMAND (its words joined by spaces) and prints the reply; without a
// COMMAND it sends each line of its standard input, and stops at the
// first error. See bench/wanem/README.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/distgate/distgate/bench/wanem"
)

// DefaultControl is the control socket when -control is not given.
const DefaultControl = "/run/wanem.sock"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := doMain(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func doMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: wanem run -a NS -b NS [flags] | wanem ctl [-control PATH] [COMMAND...]")
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = run(ctx, args[1:], stdout, stderr)
	case "ctl":
		err = ctl(args[1:], stdin, stdout, stderr)
	default:
		err = fmt.Errorf("unknown subcommand %q: want run or ctl", args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "wanem %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stderr, "wanem %s: %v\n", args[0], err)
	return 1
}

var errUsage = errors.New("usage")

// runOptions are run's flags.
type runOptions struct {
	cfg        wanem.Config
	create     bool
	control    string
	statsEvery time.Duration
	cpuProfile string
}

func parseRun(args []string, stderr io.Writer) (runOptions, error) {
	var o runOptions
	var a, b, addrA, addrB, dev, both, ab, ba string
	fs := flag.NewFlagSet("wanem run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a, "a", "", "namespace of side A (required)")
	fs.StringVar(&b, "b", "", "namespace of side B (required)")
	fs.BoolVar(&o.create, "create", false, "create both namespaces, and delete them at exit")
	fs.StringVar(&o.control, "control", DefaultControl, "Unix socket of the control protocol (empty: none)")
	fs.StringVar(&both, "both", "", "settings of both directions, e.g. \"delay=20ms loss=0.5%\"")
	fs.StringVar(&ab, "ab", "", "settings of A to B, on top of -both")
	fs.StringVar(&ba, "ba", "", "settings of B to A, on top of -both")
	fs.IntVar(&o.cfg.MTU, "mtu", wanem.DefaultMTU, "MTU of both devices")
	fs.Uint64Var(&o.cfg.Seed, "seed", 0, "seed of the random numbers (0: random)")
	fs.IntVar(&o.cfg.MaxPackets, "max-packets", wanem.DefaultMaxPackets, "most packets held per direction")
	fs.StringVar(&addrA, "addr-a", wanem.DefaultPrefixA, "address of side A's device")
	fs.StringVar(&addrB, "addr-b", wanem.DefaultPrefixB, "address of side B's device")
	fs.StringVar(&dev, "dev", wanem.DefaultDev, "name of the device in each namespace")
	fs.DurationVar(&o.statsEvery, "stats-every", 0, "print the stats this often (0: only at exit)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file`")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	if a == "" || b == "" {
		return o, fmt.Errorf("-a and -b are required: %w", errUsage)
	}
	if o.statsEvery < 0 {
		return o, fmt.Errorf("-stats-every is negative: %w", errUsage)
	}
	var err error
	o.cfg.A = wanem.Side{Netns: wanem.Netns(a), Dev: dev}
	o.cfg.B = wanem.Side{Netns: wanem.Netns(b), Dev: dev}
	if o.cfg.A.Addr, err = netip.ParsePrefix(addrA); err != nil {
		return o, fmt.Errorf("-addr-a: %v: %w", err, errUsage)
	}
	if o.cfg.B.Addr, err = netip.ParsePrefix(addrB); err != nil {
		return o, fmt.Errorf("-addr-b: %v: %w", err, errUsage)
	}
	for _, s := range []struct {
		flag, dir, value string
	}{{"both", "both", both}, {"ab", "ab", ab}, {"ba", "ba", ba}} {
		if strings.TrimSpace(s.value) == "" {
			continue
		}
		c, err := wanem.ParseCommand("set " + s.dir + " " + s.value)
		if err != nil {
			return o, fmt.Errorf("-%s: %v: %w", s.flag, err, errUsage)
		}
		if c.Dir&wanem.AtoB != 0 {
			o.cfg.AB = c.Apply(o.cfg.AB)
		}
		if c.Dir&wanem.BtoA != 0 {
			o.cfg.BA = c.Apply(o.cfg.BA)
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseRun(args, stderr)
	if err != nil {
		return err
	}
	if o.create {
		for _, ns := range []wanem.Netns{o.cfg.A.Netns, o.cfg.B.Netns} {
			if _, err := wanem.NewNetns(string(ns)); err != nil {
				return err
			}
			defer func() {
				if derr := ns.Delete(); derr != nil && err == nil {
					err = derr
				}
			}()
		}
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	em, err := wanem.New(o.cfg)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, em.Stats())
		if cerr := em.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if o.control != "" {
		ln, err := listenControl(o.control)
		if err != nil {
			return err
		}
		srv := wanem.ServeControl(ln, em)
		defer srv.Close()
	}
	c := em.Config()
	fmt.Fprintf(stdout, "ready a=%s/%s b=%s/%s control=%s\n", c.A.Netns, c.A.Addr.Addr(), c.B.Netns, c.B.Addr.Addr(), o.control)
	var tick <-chan time.Time
	if o.statsEvery > 0 {
		t := time.NewTicker(o.statsEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			fmt.Fprintln(stdout, em.Stats())
		}
	}
}

// listenControl listens on the Unix socket path, replacing a socket file
// no one listens on any more (a previous run that was killed). The
// listener removes the file when closed.
func listenControl(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err == nil {
		return ln, nil
	}
	if fi, serr := os.Lstat(path); serr == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, derr := net.Dial("unix", path); derr == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another wanem listens there", path)
		}
		if rerr := os.Remove(path); rerr == nil {
			if ln, err = net.Listen("unix", path); err == nil {
				return ln, nil
			}
		}
	}
	return nil, fmt.Errorf("control socket: %w", err)
}

func ctl(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wanem ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("control", DefaultControl, "Unix socket of the running wanem")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cc, err := wanem.DialControl(*path)
	if err != nil {
		return err
	}
	defer cc.Close()
	exec := func(line string) error {
		out, err := cc.Exec(line)
		if out != "" {
			fmt.Fprintln(stdout, out)
		}
		return err
	}
	if fs.NArg() > 0 {
		return exec(strings.Join(fs.Args(), " "))
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 512), wanem.MaxLineBytes)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := exec(sc.Text()); err != nil {
			return err
		}
	}
	return sc.Err()
}
