package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// child is a process the bench started: an Erlang node, a gateway or an
// stunnel. Its output is kept (the tail) for error messages; an Erlang
// node's lines are also delivered as they come.
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

// startChild starts path with args at a place, its stdout and stderr
// merged.
func startChild(name string, at place, env []string, withLines bool, path string, args ...string) (*child, error) {
	path, args = at.command(path, args...)
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

func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM, then SIGKILL after a grace period.
func (c *child) stop() {
	if c == nil || c.exited() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
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
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freeLinkAddr returns a loopback address free for both TCP and UDP: a
// gateway's QUIC and TLS link listeners share it.
func freeLinkAddr() (string, error) {
	for range 50 {
		tl, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := tl.Addr().String()
		ul, err := net.ListenPacket("udp4", addr)
		tl.Close()
		if err == nil {
			ul.Close()
			return addr, nil
		}
	}
	return "", errors.New("no loopback port free for both TCP and UDP")
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
		if c.exited() {
			return fmt.Errorf("%s exited (%v) before listening on %s:\n%s", c.name, c.err, addr, c.out)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not listening on %s after %v:\n%s", c.name, addr, limit, c.out)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// clockTicks is the kernel's USER_HZ: /proc reports CPU times in it.
const clockTicks = 100

// cpuTicks returns a process's user+system CPU time (all its threads) in
// clock ticks, from /proc/PID/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime+stime (fields 14 and 15) of a /proc/PID/stat
// line; the command name, in parentheses, may hold anything.
func parseStatCPU(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return u + s, nil
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
