//go:build linux

package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// benchNodeErl is the sender, receiver and -epmd_module of every path.
//
//go:embed bench_node.erl
var benchNodeErl []byte

// cookie is the distribution cookie of every bench node.
const cookie = "bridgebench"

// compileErlang writes bench_node.erl to dir and compiles it, with the
// distgate_epmd modules (a source directory, or one .erl file), into dir.
func compileErlang(dir, distgateEpmd string) error {
	src := filepath.Join(dir, "bench_node.erl")
	if err := os.WriteFile(src, benchNodeErl, 0o600); err != nil {
		return err
	}
	mods := []string{distgateEpmd}
	if fi, err := os.Stat(distgateEpmd); err == nil && fi.IsDir() {
		if mods, _ = filepath.Glob(filepath.Join(distgateEpmd, "*.erl")); len(mods) == 0 {
			return fmt.Errorf("no .erl file in %s", distgateEpmd)
		}
	}
	out, err := exec.Command("erlc", append([]string{"-o", dir, src}, mods...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("erlc: %v\n%s", err, out)
	}
	return nil
}

// erlVersion returns "OTP 25 (erts 13.1.5)".
func erlVersion() string {
	out, err := exec.Command("erl", "-noshell", "-noinput", "-eval",
		`io:format("OTP ~s (erts ~s)", [erlang:system_info(otp_release), erlang:system_info(version)]), halt().`).Output()
	if err != nil {
		return "OTP (version unknown)"
	}
	return strings.TrimSpace(string(out))
}

// nodeSpec is how one Erlang node of a path is started.
type nodeSpec struct {
	name string   // full node name
	args []string // erl arguments beyond the common ones
	env  []string
	at   place // where it runs (a zero place: the bench's own network)
}

// erlArgs are the arguments every bench node gets: a long name, the
// cookie, no shell, no EPMD of erl's own and no mesh, the compiled
// modules, and the scheduler flags of -erl-flags.
func (b *bench) erlArgs(n nodeSpec) []string {
	args := []string{"-name", n.name, "-setcookie", cookie, "-noshell", "-noinput", "-start_epmd", "false", "-pa", b.ebin,
		// No mesh: bench_node, the -epmd_module of the paths without a
		// gateway, sends every name to the receiver, so global's
		// connections between the senders of the WAN bench would reach
		// it under the wrong name and make it drop them.
		"-connect_all", "false"}
	args = append(args, strings.Fields(b.o.erlFlags)...)
	return append(args, n.args...)
}

// startReceiver starts the receiving node and waits until bench_rx runs.
func (b *bench) startReceiver(n nodeSpec) (*child, error) {
	args := append(b.erlArgs(n), "-eval", "bench_node:receiver()")
	c, err := startChild("receiver "+n.name, n.at, n.env, true, "erl", args...)
	if err != nil {
		return nil, err
	}
	if _, err := c.WaitLine(b.ctx, "READY", 60*time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// senderRun is what a sender does: a throughput phase of duration for each
// size, then up to rttCount ping-pongs (also bounded by duration).
type senderRun struct {
	sizes    []int
	duration time.Duration
	rttCount int
}

// startSender starts the sending node on the receiver rx.
func (b *bench) startSender(n nodeSpec, rx string, r senderRun) (*child, error) {
	expr := fmt.Sprintf("bench_node:sender('%s', %d, %s, %d, %d)", rx, r.duration.Milliseconds(),
		erlList(r.sizes), r.rttCount, b.o.window)
	args := append(b.erlArgs(n), "-eval", expr)
	return startChild("sender "+n.name, n.at, n.env, true, "erl", args...)
}

func erlList(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// senderLine is one parsed line of the sender's report.
type senderLine struct {
	kind  string // CONNECT, BEGIN, TPUT, RTT, END, DONE, CRASH, or "" for other output
	phase string // BEGIN: "tput 1024", "rtt"
	nums  []int64
}

func parseSenderLine(l string) (senderLine, error) {
	f := strings.Fields(l)
	if len(f) == 0 {
		return senderLine{}, nil
	}
	want := map[string]int{"CONNECT": 1, "TPUT": 4, "RTT": 4, "END": 0, "DONE": 0}
	switch f[0] {
	case "CRASH":
		return senderLine{kind: "CRASH"}, nil
	case "BEGIN":
		return senderLine{kind: "BEGIN", phase: strings.Join(f[1:], " ")}, nil
	}
	n, ok := want[f[0]]
	if !ok {
		return senderLine{}, nil
	}
	if len(f) != n+1 {
		return senderLine{}, fmt.Errorf("sender line %q: want %d numbers", l, n)
	}
	sl := senderLine{kind: f[0]}
	for _, v := range f[1:] {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return senderLine{}, fmt.Errorf("sender line %q: %w", l, err)
		}
		sl.nums = append(sl.nums, x)
	}
	return sl, nil
}

var errSenderCrashed = errors.New("the sender crashed")
