package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
)

// child is a process the benchmark started: an etcd member, a gateway or
// an Erlang node; an Erlang node's lines are delivered as they come.
type child = benchutil.Child

// rssMiB is the process's resident memory now, from /proc/PID/status.
func rssMiB(c *child) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid()) + "/status")
	if err != nil {
		return 0, fmt.Errorf("%s: memory: %w", c.Name, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: memory: %q", c.Name, l)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("%s: no VmRSS in /proc/PID/status", c.Name)
}

// waitListening waits until something accepts TCP connections on addr, or
// c ends.
func waitListening(addr string, c *child, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c != nil && c.Exited() {
			return fmt.Errorf("%s exited (%v):\n%s", c.Name, c.Err, c.Out)
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return nil
		}
	}
	if c != nil {
		return fmt.Errorf("%s: nothing listens on %s after %v:\n%s", c.Name, addr, limit, c.Out)
	}
	return fmt.Errorf("nothing listens on %s after %v", addr, limit)
}
