package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
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

// ports hands out loopback ports that are free now, each once.
type ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// next returns a port free for TCP and UDP on 127.0.0.1.
func (p *ports) next() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used == nil {
		p.used = map[int]bool{}
	}
	for range 100 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		uc, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil || p.used[port] {
			if uc != nil {
				uc.Close()
			}
			continue
		}
		uc.Close()
		p.used[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port")
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
