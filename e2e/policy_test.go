package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/wasm/wasmtest"
)

// repoRoot is the repository's top directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

var policyBuilds struct {
	sync.Mutex
	m map[string]string
}

// policyModule builds a sample or test policy once per test run: a Go
// package directory or a .wat file, relative to the repository.
func policyModule(t testing.TB, src string) string {
	t.Helper()
	policyBuilds.Lock()
	defer policyBuilds.Unlock()
	if p, ok := policyBuilds.m[src]; ok {
		return p
	}
	out := filepath.Join(binDir, strings.NewReplacer("/", "_", ".", "_").Replace(src)+".wasm")
	var err error
	if strings.HasSuffix(src, ".wat") {
		requireTools(t, "wat2wasm")
		_, err = wasmtest.BuildWAT(filepath.Join(repoRoot(), src), out)
	} else {
		_, err = wasmtest.BuildGo(filepath.Join(repoRoot(), src), out)
	}
	if err != nil {
		t.Fatalf("building %s: %v", src, err)
	}
	if policyBuilds.m == nil {
		policyBuilds.m = map[string]string{}
	}
	policyBuilds.m[src] = out
	return out
}

// singleGateway starts one gateway with no peers.
func singleGateway(t testing.TB, name string) *gatewaySite {
	t.Helper()
	s := newGatewaySite(t, name)
	writeFile(t, s.config, fmt.Sprintf("site: %s\ndata_dir: %s\nepmd: {listen: \"127.0.0.1:%d\"}\nadmin: {listen: %q}\nlinks: {off: true}\n",
		name, filepath.Join(s.dir, "data"), s.epmdPort, s.admin))
	s.start(t)
	return s
}

// cli runs `distgate policy ...` against a site.
func (s *gatewaySite) cli(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	return runCmd(t, nil, distgateBin(t), append(args, "-config", s.config)...)
}

func (s *gatewaySite) push(t testing.TB, name, module, config string) string {
	t.Helper()
	args := []string{"policy", "push", name, module}
	if config != "" {
		cf := filepath.Join(t.TempDir(), "config.json")
		writeFile(t, cf, config)
		args = append(args, "-config-file", cf)
	}
	out, errOut, code := s.cli(t, args...)
	if code != 0 {
		t.Fatalf("policy push %s: %s%s", module, out, errOut)
	}
	return out
}

func (s *gatewaySite) policies(t testing.TB) []gateway.PolicyView {
	t.Helper()
	out, errOut, code := s.cli(t, "policy", "list", "-json")
	if code != 0 {
		t.Fatalf("policy list: %s", errOut)
	}
	var views []gateway.PolicyView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("policy list: %v\n%s", err, out)
	}
	return views
}

// TestPolicyAnswersErlangLookup: a node asks the gateway for a node whose
// host is not this one; without a policy there is no route (pang); with
// the static-map sample uploaded, the policy routes it to the local node
// and the ping goes through, counted in the policy's statistics.
func TestPolicyAnswersErlangLookup(t *testing.T) {
	t.Parallel()
	s := singleGateway(t, "gw")
	// A stock node: it registers its name only, so the gateway does not
	// know n1.gw.example for a host of its own.
	target := &erlNode{name: "target@" + s.host, proc: startProc(t, []string{"ERL_EPMD_PORT=" + fmt.Sprint(s.epmdPort)}, "erl",
		"-name", "target@"+s.host, "-setcookie", cookie, "-noshell", "-noinput", "-start_epmd", "false")}
	waitRegistered(t, s.epmdPort, "target", target.proc)
	expr := fmt.Sprintf(`net_adm:ping('%s')`, target.name)
	if out, err := evalAt(t, s, "asker", expr); err != nil || out != "pang" {
		t.Fatalf("before the policy: %v %s", err, out)
	}
	s.push(t, "lookup", policyModule(t, "samples/policies/static-map"), `{"routes": [{"match": "*@*.gw.example", "local": true}]}`)
	if out, err := evalAt(t, s, "asker2", expr); err != nil || out != "pong" {
		t.Fatalf("with the policy: %v %s\n%s", err, out, s.proc.out)
	}
	views := s.policies(t)
	if len(views) != 1 || views[0].Stats.Calls == 0 || views[0].Role == "" {
		t.Fatalf("policy list: %+v", views)
	}
	if out, _, _ := s.cli(t, "policy", "test", "lookup", target.name); !strings.Contains(out, "-> local") {
		t.Fatalf("policy test: %s", out)
	}
	// The dry run is counted, as a test (not a decision), and the
	// decisions' time shows.
	after := s.policies(t)
	if after[0].Stats.Tests != 1 || after[0].Stats.Calls != views[0].Stats.Calls || after[0].DecisionP99 <= 0 {
		t.Fatalf("policy list after a test: %+v (before: %+v)", after[0], views[0])
	}
	if out, _, _ := s.cli(t, "policy", "list"); !strings.Contains(out, "TESTS") {
		t.Fatalf("policy list: %s", out)
	}
}

// TestPolicyBadModulesRefused: uploads that are not policies are refused
// with a message that says what is wrong, and change nothing.
func TestPolicyBadModulesRefused(t *testing.T) {
	t.Parallel()
	s := singleGateway(t, "gw")
	notWasm := filepath.Join(t.TempDir(), "x.wasm")
	writeFile(t, notWasm, "#!/bin/sh\necho not wasm\n")
	for _, tc := range []struct{ module, want string }{
		{notWasm, "not a WebAssembly module"},
		{policyModule(t, "wasm/testdata/abi_v2.wat"), "ABI"},
		{policyModule(t, "wasm/testdata/huge_memory.wat"), "memory"},
		{policyModule(t, "wasm/testdata/no_alloc.wat"), "export"},
	} {
		out, errOut, code := s.cli(t, "policy", "push", "lookup", tc.module)
		if code == 0 || !strings.Contains(errOut, "400 Bad Request") || !strings.Contains(strings.ToLower(errOut), strings.ToLower(tc.want)) {
			t.Errorf("push %s: exit %d\n%s%s", filepath.Base(tc.module), code, out, errOut)
		}
	}
	if views := s.policies(t); len(views) != 0 {
		t.Fatalf("refused uploads left policies: %+v", views)
	}
}

// TestPolicyHostileModules: a policy that loops forever, one that traps,
// one that allocates without bound and one that returns garbage: the
// gateway keeps answering, every lookup fails closed (denied), and the
// counters say why.
func TestPolicyHostileModules(t *testing.T) {
	t.Parallel()
	s := singleGateway(t, "gw")
	c := s.epmdClient()
	for _, tc := range []struct {
		wat     string
		counter func(st gateway.PolicyView) uint64
	}{
		{"wasm/testdata/loop.wat", func(v gateway.PolicyView) uint64 { return v.Stats.Timeouts }},
		{"wasm/testdata/trap.wat", func(v gateway.PolicyView) uint64 { return v.Stats.Traps }},
		{"wasm/testdata/grow.wat", func(v gateway.PolicyView) uint64 { return v.Stats.Traps }},
		{"wasm/testdata/garbage.wat", func(v gateway.PolicyView) uint64 { return v.Stats.Invalid }},
	} {
		s.cli(t, "policy", "remove", "lookup")
		s.push(t, "lookup", policyModule(t, tc.wat), "")
		for i := range 5 {
			_, err := c.Lookup(context.Background(), epmd.LookupRequest{Node: fmt.Sprintf("n%d@anywhere.example", i)})
			var se *epmd.StatusError
			if !errors.As(err, &se) || se.Status != epmd.StatusDenied {
				t.Fatalf("%s: lookup %d: %v, want a denial", tc.wat, i, err)
			}
		}
		if _, names, err := c.Names(context.Background()); err != nil || names == nil && err != nil {
			t.Fatalf("%s: the EPMD stopped answering: %v", tc.wat, err)
		}
		views := s.policies(t)
		if len(views) != 1 || views[0].Stats.Failures == 0 || tc.counter(views[0]) == 0 {
			t.Fatalf("%s: counters %+v", tc.wat, views)
		}
	}
	if out, _, _ := s.cli(t, "policy", "logs", "lookup"); !strings.Contains(out, "policy failed") {
		t.Fatalf("policy logs do not show the failures:\n%s", out)
	}
}

// TestPolicySwapUnderLoad: 8 clients look up in a loop while new versions
// are uploaded and rolled back; every lookup gets an answer of one version
// or the other, none is lost.
func TestPolicySwapUnderLoad(t *testing.T) {
	t.Parallel()
	s := singleGateway(t, "gw")
	module := policyModule(t, "samples/policies/static-map")
	cfg := func(tag string) string {
		return fmt.Sprintf(`{"routes": [{"match": "*@*.swap.example", "deny": "version %s"}]}`, tag)
	}
	s.push(t, "lookup", module, cfg("A"))
	c := s.epmdClient()
	var total, wrong atomic.Int64
	var firstWrong atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.Lookup(context.Background(), epmd.LookupRequest{Node: fmt.Sprintf("w%d-%d@h.swap.example", w, i)})
				total.Add(1)
				var se *epmd.StatusError
				if !errors.As(err, &se) || se.Status != epmd.StatusDenied || (se.Message != "version A" && se.Message != "version B") {
					wrong.Add(1)
					firstWrong.CompareAndSwap(nil, fmt.Sprint(err))
				}
			}
		}()
	}
	for i := range 6 {
		if i%2 == 0 {
			s.push(t, "lookup", module, cfg("B"))
		} else {
			if _, errOut, code := s.cli(t, "policy", "rollback", "lookup"); code != 0 {
				t.Errorf("rollback: %s", errOut)
			}
		}
	}
	close(stop)
	wg.Wait()
	if total.Load() < 100 || wrong.Load() != 0 {
		logs, _, _ := s.cli(t, "policy", "logs", "lookup")
		t.Fatalf("%d lookups, %d without a version's answer (first: %v)\npolicy log:\n%s", total.Load(), wrong.Load(), firstWrong.Load(), logs)
	}
	t.Logf("%d lookups during 6 swaps, all answered", total.Load())
}

// TestPolicySurvivesRestart: the active version is stored in the data
// directory and answers again after a restart.
func TestPolicySurvivesRestart(t *testing.T) {
	t.Parallel()
	s := singleGateway(t, "gw")
	module := policyModule(t, "samples/policies/static-map")
	s.push(t, "lookup", module, `{"routes": [{"match": "*@*.restart.example", "deny": "first"}]}`)
	s.push(t, "lookup", module, `{"routes": [{"match": "*@*.restart.example", "deny": "second"}]}`)
	s.cli(t, "policy", "rollback", "lookup")
	s.proc.cmd.Process.Signal(syscall.SIGTERM)
	if !s.proc.exited(10 * time.Second) {
		t.Fatal("the gateway did not stop on SIGTERM")
	}
	s.start(t)
	views := s.policies(t)
	if len(views) != 1 || views[0].Active == nil || views[0].Active.Seq != 1 || len(views[0].Versions) != 2 {
		t.Fatalf("after the restart: %+v", views)
	}
	_, err := s.epmdClient().Lookup(context.Background(), epmd.LookupRequest{Node: "x@y.restart.example"})
	var se *epmd.StatusError
	if !errors.As(err, &se) || se.Message != "first" {
		t.Fatalf("lookup after the restart: %v", err)
	}
}

// TestAdminAPIToken: the admin API refuses a missing or wrong token.
func TestAdminAPIToken(t *testing.T) {
	t.Parallel()
	s := singleGateway(t, "gw")
	tok, err := os.ReadFile(filepath.Join(s.dir, "data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Basic " + strings.TrimSpace(string(tok)), http.StatusUnauthorized},
		{"Bearer " + strings.TrimSpace(string(tok)), http.StatusOK},
	} {
		for _, path := range []string{"/v1/status", "/v1/policies"} {
			req, _ := http.NewRequest("GET", "http://"+s.admin+path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s with %q: %d, want %d", path, tc.auth, resp.StatusCode, tc.want)
			}
		}
	}
}
