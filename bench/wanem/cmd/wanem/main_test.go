//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distgate/distgate/bench/wanem"
)

func TestParseRun(t *testing.T) {
	o, err := parseRun([]string{"-a", "x", "-b", "y", "-both", "delay=20ms loss=1%", "-ab", "loss=2% rate=10mbit", "-seed", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wantAB := wanem.Settings{Delay: 20 * time.Millisecond, Loss: 0.02, Rate: 10_000_000}
	wantBA := wanem.Settings{Delay: 20 * time.Millisecond, Loss: 0.01}
	if o.cfg.AB != wantAB || o.cfg.BA != wantBA || o.cfg.Seed != 7 || o.cfg.A.Netns != "x" || o.cfg.B.Netns != "y" {
		t.Errorf("parseRun = %+v; want AB %+v, BA %+v, seed 7, namespaces x and y", o.cfg, wantAB, wantBA)
	}
	if o.control != DefaultControl || o.cfg.MTU != 1500 || o.cfg.A.Addr.String() != wanem.DefaultPrefixA {
		t.Errorf("defaults: control %q, MTU %d, A %v", o.control, o.cfg.MTU, o.cfg.A.Addr)
	}
	for _, args := range [][]string{
		nil, {"-a", "x"}, {"-b", "y"}, {"-a", "x", "-b", "y", "extra"},
		{"-a", "x", "-b", "y", "-both", "delay=fast"}, {"-a", "x", "-b", "y", "-ab", "loss=2"},
		{"-a", "x", "-b", "y", "-addr-a", "198.18.0.1"}, {"-a", "x", "-b", "y", "-stats-every", "-1s"},
	} {
		if _, err := parseRun(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseRun(%q): %v; want a usage error", args, err)
		}
	}
	if code := doMain(context.Background(), []string{"bogus"}, nil, io.Discard, io.Discard); code != 1 {
		t.Errorf("doMain bogus = %d; want 1", code)
	}
	if code := doMain(context.Background(), []string{"run", "-a", "x"}, nil, io.Discard, io.Discard); code != 2 {
		t.Errorf("doMain run -a x = %d; want 2", code)
	}
}

// TestCommand runs the command as a process, as a shell user would: it
// creates two namespaces, impairs the link, answers ctl, reports its CPU
// per packet under a TCP transfer at its rate limit, and deletes the
// namespaces when it gets SIGTERM.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("creates network namespaces and TUN devices")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ip (iproute2) is missing: %v", err)
		}
		t.Skipf("ip (iproute2) is missing: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces and TUN devices need root")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "wanem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	id := fmt.Sprintf("wanemcmd%d-%x", os.Getpid(), rand.Uint32())
	nsA, nsB := wanem.Netns(id+"-a"), wanem.Netns(id+"-b")
	sock := filepath.Join(dir, "control.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "-create", "-a", string(nsA), "-b", string(nsB),
		"-control", sock, "-cpuprofile", filepath.Join(dir, "cpu.prof"), "-both", "delay=5ms", "-ab", "rate=200mbit queue=256k", "-seed", "1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range lines {
		}
		<-exited
		nsA.Delete()
		nsB.Delete()
	})
	var ready string
	select {
	case ready = <-lines:
	case <-time.After(20 * time.Second):
		t.Fatalf("no ready line in 20s; stderr:\n%s", &stderr)
	}
	if want := fmt.Sprintf("ready a=%s/198.18.0.1 b=%s/198.19.0.1 control=%s", nsA, nsB, sock); ready != want {
		t.Fatalf("first line %q; want %q; stderr:\n%s", ready, want, &stderr)
	}

	ctlRun := func(stdin string, args ...string) (string, int) {
		var out, errOut bytes.Buffer
		code := doMain(context.Background(), append([]string{"ctl", "-control", sock}, args...), strings.NewReader(stdin), &out, &errOut)
		return out.String() + errOut.String(), code
	}
	out, code := ctlRun("", "show")
	want := "set ab delay=5ms jitter=0s loss=0% ge=off reorder=0% reorder-delay=0s rate=200mbit queue=262144 partition=off\n" +
		"set ba delay=5ms jitter=0s loss=0% ge=off reorder=0% reorder-delay=0s rate=off queue=default partition=off\n"
	if code != 0 || out != want {
		t.Errorf("ctl show = %d:\n%s\nwant 0:\n%s", code, out, want)
	}
	if out, code := ctlRun("", "set", "ab", "loss=2"); code != 1 || !strings.Contains(out, "outside 0..1") {
		t.Errorf("ctl set ab loss=2 = %d, %q; want 1 and the reason", code, out)
	}

	// A partition from a script on stdin cuts A to B; healing restores it.
	ln, err := nsB.Listen("tcp4", "198.19.0.1:7100")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialA := func(timeout time.Duration) (net.Conn, error) {
		dctx, dcancel := context.WithTimeout(context.Background(), timeout)
		defer dcancel()
		return nsA.Dial(dctx, "tcp4", "198.19.0.1:7100")
	}
	if out, code := ctlRun("partition ab\n\nshow\n"); code != 0 || !strings.Contains(out, "set ab delay=5ms") || !strings.Contains(out, "partition=on") {
		t.Errorf("ctl script = %d:\n%s", code, out)
	}
	if c, err := dialA(300 * time.Millisecond); err == nil {
		c.Close()
		t.Errorf("dial across a partition succeeded")
	}
	if out, code := ctlRun("", "heal", "ab"); code != 0 {
		t.Fatalf("ctl heal ab = %d, %s", code, out)
	}
	c, err := dialA(5 * time.Second)
	if err != nil {
		t.Fatalf("dial after healing: %v", err)
	}
	defer c.Close()
	r, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// One second of TCP at the 200 Mbit/s limit, then the emulator's own
	// CPU (the process is the emulator alone).
	before := stats(t, ctlRun)
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, r)
		done <- n
	}()
	buf := make([]byte, 256<<10)
	c.SetWriteDeadline(time.Now().Add(time.Second))
	for {
		if _, err := c.Write(buf); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	c.Close()
	received := <-done
	after := stats(t, ctlRun)
	pkts := after["packets"] - before["packets"]
	cpu := after["cpu_ns"] - before["cpu_ns"]
	secs := float64(after["elapsed_ns"]-before["elapsed_ns"]) / 1e9
	// The emulator's CPU includes the kernel's work on the packets it
	// writes: a TUN write runs the receiving namespace's stack (and the
	// transmissions an ACK releases) in the writer's system call.
	t.Logf("%d bytes received; emulator: %d packets (both ways) in %.2fs, %.1f Mbit/s A to B on the link, CPU %.0f ms = %.1f%% of a core, %.2f µs per packet",
		received, pkts, secs, float64(after["ab_bytes"]-before["ab_bytes"])*8/secs/1e6, float64(cpu)/1e6, float64(cpu)/1e9/secs*100, float64(cpu)/float64(pkts)/1e3)
	if pkts < 1000 || received == 0 {
		t.Errorf("%d packets, %d bytes: the transfer did not run", pkts, received)
	}

	// SIGTERM: the final stats, exit 0, the namespaces gone.
	cmd.Process.Signal(syscall.SIGTERM)
	var final string
	for l := range lines {
		final = l
	}
	if err := <-exited; err != nil {
		t.Errorf("exit after SIGTERM: %v; stderr:\n%s", err, &stderr)
	}
	exited <- nil // for the cleanup
	if !strings.HasPrefix(final, "cpu elapsed=") {
		t.Errorf("last line %q; want the stats' cpu line", final)
	}
	if fi, err := os.Stat(filepath.Join(dir, "cpu.prof")); err != nil || fi.Size() == 0 {
		t.Errorf("-cpuprofile: %v", err)
	}
	for _, ns := range []wanem.Netns{nsA, nsB} {
		if _, err := os.Stat(ns.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still there after exit (%v)", ns, err)
		}
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket still there after exit (%v)", err)
	}
}

var (
	dirLine = regexp.MustCompile(`^(ab|ba) packets=(\d+) bytes=(\d+) `)
	cpuLine = regexp.MustCompile(`^cpu elapsed=(\S+) user=(\S+) system=(\S+) per_packet=`)
)

// stats runs ctl stats and returns its figures: packets (both ways),
// ab_bytes, cpu_ns (user and system) and elapsed_ns.
func stats(t *testing.T, ctlRun func(string, ...string) (string, int)) map[string]int64 {
	t.Helper()
	out, code := ctlRun("", "stats")
	if code != 0 {
		t.Fatalf("ctl stats = %d: %s", code, out)
	}
	m := map[string]int64{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if g := dirLine.FindStringSubmatch(l); g != nil {
			n, _ := strconv.ParseInt(g[2], 10, 64)
			m["packets"] += n
			if g[1] == "ab" {
				m["ab_bytes"], _ = strconv.ParseInt(g[3], 10, 64)
			}
		} else if g := cpuLine.FindStringSubmatch(l); g != nil {
			var d [3]time.Duration
			for i := range d {
				var err error
				if d[i], err = time.ParseDuration(g[i+1]); err != nil {
					t.Fatalf("stats line %q: %v", l, err)
				}
			}
			m["elapsed_ns"], m["cpu_ns"] = int64(d[0]), int64(d[1]+d[2])
		}
	}
	if len(m) != 4 {
		t.Fatalf("stats:\n%s\nparsed as %v", out, m)
	}
	return m
}
