package benchutil

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child is a process a benchmark started. The tail of its output is kept
// for error messages; when asked for at start, its lines are also
// delivered as they come.
type Child struct {
	Name string
	Cmd  *exec.Cmd
	Out  *TailBuffer // the last 64 KiB of stdout and stderr
	// Lines receives the output line by line when asked for at start;
	// closed at the end of the output.
	Lines chan string
	Done  chan struct{} // closed when the process has exited
	Err   error         // Wait's error, valid after Done
	// Grace is how long Stop waits after SIGTERM before SIGKILL: 5 s
	// unless set.
	Grace time.Duration
}

// StartChild starts path with args, its stdout and stderr merged, with env
// added to this process's environment.
func StartChild(name string, env []string, withLines bool, path string, args ...string) (*Child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 2 * time.Second
	c := &Child{Name: name, Cmd: cmd, Out: &TailBuffer{Max: 64 << 10}, Done: make(chan struct{}), Grace: 5 * time.Second}
	var pr *io.PipeReader
	if withLines {
		var pw *io.PipeWriter
		pr, pw = io.Pipe()
		c.Lines = make(chan string, 1024)
		cmd.Stdout, cmd.Stderr = pw, pw
		go func() {
			<-c.Done
			pw.Close()
		}()
	} else {
		cmd.Stdout, cmd.Stderr = c.Out, c.Out
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
				c.Out.Write([]byte(l + "\n"))
				select {
				case c.Lines <- l:
				default: // nobody reads: the tail keeps it
				}
			}
			io.Copy(io.Discard, pr)
			close(c.Lines)
		}()
	}
	go func() {
		c.Err = cmd.Wait()
		close(c.Done)
	}()
	return c, nil
}

// Pid is the process's id.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Exited reports whether the process has ended.
func (c *Child) Exited() bool {
	select {
	case <-c.Done:
		return true
	default:
		return false
	}
}

// Kill ends the process at once (SIGKILL) and waits for it.
func (c *Child) Kill() {
	if c == nil || c.Exited() {
		return
	}
	c.Cmd.Process.Kill()
	<-c.Done
}

// Stop ends the process: SIGTERM, then SIGKILL after c.Grace.
func (c *Child) Stop() {
	if c == nil || c.Exited() {
		return
	}
	c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.Done:
	case <-time.After(c.Grace):
		c.Kill()
	}
}

// WaitLine waits for a line that starts with prefix and returns it. The
// child must have been started with its lines.
func (c *Child) WaitLine(ctx context.Context, prefix string, limit time.Duration) (string, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case l, ok := <-c.Lines:
			if !ok {
				return "", fmt.Errorf("%s ended before printing %s (%v):\n%s", c.Name, prefix, c.Err, c.Out)
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s printed no %s within %v:\n%s", c.Name, prefix, limit, c.Out)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// TailBuffer keeps the last Max bytes written to it.
type TailBuffer struct {
	Max int

	mu sync.Mutex
	b  []byte
}

// Write keeps p, dropping the oldest bytes beyond Max; it never fails.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.Max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// String returns the bytes kept.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
