package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
	"github.com/distgate/distgate/internal/freeport"
)

// child is a process the bench started: an Erlang node, a gateway or an
// stunnel; an Erlang node's lines are delivered as they come.
type child = benchutil.Child

// startChild starts path with args at a place, its stdout and stderr
// merged. Stop gives it 3 s after SIGTERM.
func startChild(name string, at place, env []string, withLines bool, path string, args ...string) (*child, error) {
	path, args = at.command(path, args...)
	c, err := benchutil.StartChild(name, env, withLines, path, args...)
	if err != nil {
		return nil, err
	}
	c.Grace = 3 * time.Second
	return c, nil
}

// freeLinkAddr returns a loopback address free for both TCP and UDP: a
// gateway's QUIC and TLS link listeners share it.
func freeLinkAddr() (string, error) {
	port, err := freeport.Link()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// waitListening waits until addr accepts TCP connections from a place,
// or c exits.
func waitListening(ctx context.Context, at place, addr string, c *child, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := at.dial(dctx, addr)
		cancel()
		if err == nil {
			conn.Close()
			return nil
		}
		if c.Exited() {
			return fmt.Errorf("%s exited (%v) before listening on %s:\n%s", c.Name, c.Err, addr, c.Out)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not listening on %s after %v:\n%s", c.Name, addr, limit, c.Out)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sysTicks are the machine's CPU times, all CPUs summed, in clock ticks.
type sysTicks struct {
	procs int64 // user, nice and system: time in processes
	irq   int64 // irq and softirq: the loopback's packet processing, mostly
	steal int64 // taken by the hypervisor
}

// systemTicks reads the "cpu" line of /proc/stat.
func systemTicks() (sysTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return sysTicks{}, err
	}
	return parseSystemTicks(b)
}

func parseSystemTicks(b []byte) (sysTicks, error) {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var v [8]int64
		for i := range v {
			n, err := strconv.ParseInt(f[1+i], 10, 64)
			if err != nil {
				return sysTicks{}, fmt.Errorf("/proc/stat: %w", err)
			}
			v[i] = n
		}
		// user nice system idle iowait irq softirq steal
		return sysTicks{procs: v[0] + v[1] + v[2], irq: v[5] + v[6], steal: v[7]}, nil
	}
	return sysTicks{}, errors.New("/proc/stat: no cpu line")
}

// rssKiB returns a process's resident set size (VmRSS) in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

func parseVmRSS(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc status: VmRSS %q", v)
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New("/proc status: no VmRSS")
}

// raiseFileLimit raises the soft descriptor limit to the hard one: the
// idle-connection phase holds two descriptors per connection here.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return err
		}
	}
	if lim.Cur < need {
		return fmt.Errorf("descriptor limit %d is below the %d the idle connections need", lim.Cur, need)
	}
	return nil
}
