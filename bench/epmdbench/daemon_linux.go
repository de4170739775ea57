package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/internal/freeport"
)

// clockTicks is sysconf(_SC_CLK_TCK), the unit of utime and stime in
// /proc/PID/stat. It is 100 on every Linux architecture Go supports (the
// kernel's USER_HZ), and Go offers no sysconf without cgo.
const clockTicks = 100

// daemon is an EPMD started as a child of this process, in the foreground.
type daemon struct {
	name string
	port int
	addr string // 127.0.0.1:port

	cmd    *exec.Cmd
	stderr *limitedBuffer
	exited chan struct{} // closed when the process has been waited for
	once   sync.Once
}

// startDaemon starts path with args followed by a free port, and waits
// until it answers NAMES with that port.
func startDaemon(ctx context.Context, name, path string, args ...string) (*daemon, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := &daemon{
		name:   name,
		port:   port,
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		stderr: &limitedBuffer{max: 4 << 10},
		exited: make(chan struct{}),
	}
	d.cmd = exec.Command(path, append(args, strconv.Itoa(port))...)
	d.cmd.Env = daemonEnv(os.Environ())
	d.cmd.Stderr = d.stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: Ctrl-C reaches only this process, which
		// then stops the daemon itself. Pdeathsig is the backstop should
		// this process die without doing so.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	// Pdeathsig fires when the thread that forked ends; the Go runtime ends
	// a thread only when a goroutine exits locked to it, which none here do.
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	if err := d.waitReady(ctx, 10*time.Second); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// daemonEnv is env without the variables that would move the daemon off
// the port and addresses it is given.
func daemonEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == "ERL_EPMD_PORT" || k == "ERL_EPMD_ADDRESS" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// freePort returns a TCP port free on both 0.0.0.0 and [::], where an
// epmd without -address listens, below the ephemeral range (see
// benchutil.NextFreePort). It is not 4369 (the system's epmd).
func freePort() (int, error) {
	return freeport.Next(func(port int) bool {
		return port != epmd.DefaultPort && freeport.CanListen("tcp4", "0.0.0.0", port) && freeport.CanListen("tcp6", "::", port)
	})
}

// waitReady polls NAMES until the daemon answers with its own port. An
// epmd that finds its port taken exits 0 while another one answers: so it
// must also still be running.
func (d *daemon) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	c := epmd.Client{Addr: d.addr, Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			return fmt.Errorf("%s exited at start (%v): %s", d.name, d.cmd.ProcessState, d.stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		port, _, err := c.Names(ctx)
		if err == nil && port == d.port {
			return d.alive()
		}
		if err == nil {
			err = fmt.Errorf("NAMES reports port %d", port)
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer NAMES on %s within %s: %v", d.name, d.addr, limit, last)
}

// alive reports an error when the daemon has exited.
func (d *daemon) alive() error {
	select {
	case <-d.exited:
		return fmt.Errorf("%s has exited (%v): %s", d.name, d.cmd.ProcessState, d.stderr.String())
	default:
		return nil
	}
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop ends the daemon: SIGTERM, then SIGKILL after a second. It is
// idempotent and waits for the process.
func (d *daemon) stop() {
	d.once.Do(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(time.Second):
			d.cmd.Process.Kill()
			<-d.exited
		}
	})
}

// cpuTicks returns the utime+stime of the daemon's process (all its
// threads), in clock ticks.
func (d *daemon) cpuTicks() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(d.pid()) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("%s: cpu time: %w", d.name, err)
	}
	t, err := benchutil.ParseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("%s: cpu time: %w", d.name, err)
	}
	return t, nil
}

// systemBusyTicks returns the CPU time all processors have spent busy
// (everything but idle and iowait) since boot, in clock ticks, from the
// first line of /proc/stat.
func systemBusyTicks() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("system cpu time: %w", err)
	}
	return parseSystemBusy(b)
}

// parseSystemBusy sums user, nice, system, irq, softirq and steal of the
// "cpu" line of /proc/stat (guest time is already in user).
func parseSystemBusy(b []byte) (int64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc/stat: %w", err)
		}
		busy += v
	}
	return busy, nil
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ensureFileLimit checks that this process may hold need descriptors. Go
// raises the soft RLIMIT_NOFILE to the hard one at start; this raises it
// again in case something lowered it, and fails when the hard limit is
// too low.
func ensureFileLimit(need int) (syscall.Rlimit, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return lim, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < uint64(need) {
		return lim, fmt.Errorf("RLIMIT_NOFILE is %d (hard %d), %d descriptors are needed: raise the hard limit (ulimit -Hn) or lower -bignames", lim.Cur, lim.Max, need)
	}
	return lim, nil
}

func cpuCount() int { return runtime.NumCPU() }

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	max int

	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
