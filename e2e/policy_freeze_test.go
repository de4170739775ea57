package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/wasm/wasmtest"
)

// freezeSlack is what the liveness checks below allow: a policy fails
// closed at its 10 ms deadline (twice: the gateway tries a timed-out
// decision once more), and the EPMD and the admin API answer in
// milliseconds; seconds leave room for a slow, shared CI machine. Without
// the fix, they never answer.
const freezeSlack = 5 * time.Second

// hostileWAT builds the text of a hostile policy (a generated one when
// src is "bulk:fill") once per test run.
func hostileWAT(t *testing.T, src string) string {
	t.Helper()
	op, ok := strings.CutPrefix(src, "bulk:")
	if !ok {
		return policyModule(t, src)
	}
	text, err := wasmtest.BulkWAT(op, 1024)
	if err != nil {
		t.Fatal(err)
	}
	wat := filepath.Join(t.TempDir(), op+".wat")
	writeFile(t, wat, text)
	out := filepath.Join(t.TempDir(), op+".wasm")
	if _, err := wasmtest.BuildWAT(wat, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPolicyWithoutLoopsCannotFreeze (issue 8, item 1): lookup policies
// that never end without a loop (a binary recursion of depth 60, as in
// the issue, mutual recursion, recursion through call_indirect) or that
// run a straight line of 64 MiB fills, each looked up by three clients at
// once: every lookup fails closed (denied) within the deadline and the
// slack, and meanwhile a registered node is still found by PORT_PLEASE2,
// the stock `epmd -names` lists it, and the admin API answers.
func TestPolicyWithoutLoopsCannotFreeze(t *testing.T) {
	requireTools(t, "epmd", "wat2wasm")
	t.Parallel()
	s := singleGateway(t, "gw")
	c := s.epmdClient()
	reg, err := c.Register(context.Background(), epmd.Alive2{Port: 40123, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "alive"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	token := strings.TrimSpace(readFile(t, filepath.Join(s.dir, "data", "admin.token")))

	for _, src := range []string{
		"wasm/testdata/recursion.wat",
		"wasm/testdata/mutual_recursion.wat",
		"wasm/testdata/indirect_recursion.wat",
		"bulk:fill",
	} {
		s.cli(t, "policy", "remove", "lookup")
		s.push(t, "lookup", hostileWAT(t, src), "")
		h := hostileLookups(t, s, src, 3)
		deadline := time.Now().Add(2 * time.Second)
		for n := 0; n < 3 || time.Now().Before(deadline); n++ {
			checkAnswers(t, src, "PORT_PLEASE2", func() error {
				p, err := c.PortPlease(context.Background(), "alive")
				if err == nil && (p == nil || p.Port != 40123) {
					err = fmt.Errorf("%+v, want port 40123", p)
				}
				return err
			})
			checkAnswers(t, src, "epmd -names", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), freezeSlack)
				defer cancel()
				cmd := exec.CommandContext(ctx, "epmd", "-port", strconv.Itoa(s.epmdPort), "-names")
				cmd.Env = append(os.Environ(), "ERL_EPMD_PORT=")
				out, err := cmd.CombinedOutput()
				if err == nil && !strings.Contains(string(out), "name alive at port 40123") {
					err = fmt.Errorf("output %q", out)
				}
				return err
			})
			checkAnswers(t, src, "the admin API", func() error {
				req, _ := http.NewRequest("GET", "http://"+s.admin+"/v1/status", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := (&http.Client{Timeout: freezeSlack}).Do(req)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return errors.New(resp.Status)
				}
				return nil
			})
		}
		h.stop()
		views := s.policies(t)
		if len(views) != 1 || views[0].Stats.Timeouts == 0 {
			t.Fatalf("%s: no timeout counted: %+v", src, views)
		}
	}
}

// TestPolicyHostileSIGTERM (issue 8, item 1): SIGTERM ends a gateway whose
// lookup policy recurses without end, three lookups of it in flight,
// within seconds.
func TestPolicyHostileSIGTERM(t *testing.T) {
	requireTools(t, "wat2wasm")
	t.Parallel()
	s := singleGateway(t, "gw")
	s.push(t, "lookup", hostileWAT(t, "wasm/testdata/recursion.wat"), "")
	h := hostileLookups(t, s, "recursion", 3)
	time.Sleep(500 * time.Millisecond)
	// The lookups in flight may see their connection closed.
	h.halt()
	start := time.Now()
	s.proc.cmd.Process.Signal(syscall.SIGTERM)
	if !s.proc.exited(8 * time.Second) {
		t.Fatalf("the gateway did not end within 8s of SIGTERM\n%s", s.proc.out)
	}
	t.Logf("the gateway ended %v after SIGTERM", time.Since(start))
}

// hostile is a set of clients looking names up under a hostile policy.
type hostile struct {
	t    *testing.T
	src  string
	done chan struct{}
	halt func() // tells the clients to end, and to expect no more answers
	wg   sync.WaitGroup

	mu       sync.Mutex
	failures []string
}

// stop ends the clients, waits for them, and reports the lookups that
// were not denied in time.
func (h *hostile) stop() {
	h.halt()
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.failures {
		h.t.Errorf("%s: %s, want a denial within %v", h.src, f, freezeSlack)
	}
	h.failures = nil
}

// hostileLookups runs n clients that look up full names in a loop, each
// lookup of which must be denied within freezeSlack, until stopped.
func hostileLookups(t *testing.T, s *gatewaySite, src string, n int) *hostile {
	t.Helper()
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(s.epmdPort), Timeout: freezeSlack}
	h := &hostile{t: t, src: src, done: make(chan struct{})}
	var once sync.Once
	h.halt = func() { once.Do(func() { close(h.done) }) }
	for w := range n {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-h.done:
					return
				default:
				}
				start := time.Now()
				_, err := c.Lookup(context.Background(), epmd.LookupRequest{Node: fmt.Sprintf("w%d-%d@anywhere.example", w, i)})
				var se *epmd.StatusError
				if errors.As(err, &se) && se.Status == epmd.StatusDenied {
					continue
				}
				select {
				case <-h.done: // halted: the gateway may be stopping
					return
				default:
				}
				h.mu.Lock()
				h.failures = append(h.failures, fmt.Sprintf("lookup %d: %v after %v", i, err, time.Since(start)))
				h.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(h.stop) // before the gateway is killed: cleanups run last first
	return h
}

// checkAnswers runs a liveness check and fails the test unless it
// succeeds within freezeSlack.
func checkAnswers(t *testing.T, src, what string, check func() error) {
	t.Helper()
	start := time.Now()
	err := check()
	if took := time.Since(start); err != nil || took > freezeSlack {
		t.Fatalf("%s: %s while hostile lookups run: %v after %v", src, what, err, took)
	}
}
