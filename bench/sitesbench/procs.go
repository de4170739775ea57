package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the benchmark started: an etcd member, a gateway or
// an Erlang node. The tail of its output is kept for error messages; an
// Erlang node's lines are also delivered as they come.
type child struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	// lines receives the output line by line when asked for at start;
	// closed at the end of the output.
	lines chan string
	done  chan struct{} // closed when the process has exited
	err   error         // Wait's error, valid after done
}

// startChild starts path with args, its stdout and stderr merged.
func startChild(name string, env []string, withLines bool, path string, args ...string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 2 * time.Second
	c := &child{name: name, cmd: cmd, out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	var pr *io.PipeReader
	if withLines {
		var pw *io.PipeWriter
		pr, pw = io.Pipe()
		c.lines = make(chan string, 1024)
		cmd.Stdout, cmd.Stderr = pw, pw
		go func() {
			<-c.done
			pw.Close()
		}()
	} else {
		cmd.Stdout, cmd.Stderr = c.out, c.out
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if withLines {
		go func() {
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				l := sc.Text()
				c.out.Write([]byte(l + "\n"))
				select {
				case c.lines <- l:
				default: // nobody reads: the tail keeps it
				}
			}
			io.Copy(io.Discard, pr)
			close(c.lines)
		}()
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// kill ends the process at once (SIGKILL) and waits for it.
func (c *child) kill() {
	if c == nil || c.exited() {
		return
	}
	c.cmd.Process.Kill()
	<-c.done
}

// stop ends the process: SIGTERM, then SIGKILL after a grace period.
func (c *child) stop() {
	if c == nil || c.exited() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.kill()
	}
}

// waitLine waits for a line that starts with prefix and returns it.
func (c *child) waitLine(ctx context.Context, prefix string, limit time.Duration) (string, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return "", fmt.Errorf("%s ended before printing %s (%v):\n%s", c.name, prefix, c.err, c.out)
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s printed no %s within %v:\n%s", c.name, prefix, limit, c.out)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// rssMiB is the process's resident memory now, from /proc/PID/status.
func (c *child) rssMiB() (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("%s: memory: %w", c.name, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: memory: %q", c.name, l)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("%s: no VmRSS in /proc/PID/status", c.name)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
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
		if c != nil && c.exited() {
			return fmt.Errorf("%s exited (%v):\n%s", c.name, c.err, c.out)
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return nil
		}
	}
	if c != nil {
		return fmt.Errorf("%s: nothing listens on %s after %v:\n%s", c.name, addr, limit, c.out)
	}
	return fmt.Errorf("nothing listens on %s after %v", addr, limit)
}

// loadAvg returns the one-minute load average, "?" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
