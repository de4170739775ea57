package wasm

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
)

// TestSwapUnderLoad swaps a policy back and forth between two versions
// while 8 goroutines look names up in a loop: every lookup must be
// answered by one of the two versions, none may fail.
func TestSwapUnderLoad(t *testing.T) {
	e := newEngine(t, Config{CallTimeout: time.Second})
	goMod, watMod := staticMap(t), localOnly(t)
	install(t, e, "routes", goMod, `{"routes": [{"match": "*", "site": "a", "transport": "quic"}]}`)

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		calls    atomic.Int64
		fromGo   atomic.Int64
		fromWAT  atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
	)
	req := &abi.LookupRequest{Name: "n", Host: "h"}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r, err := e.Lookup(ctx, "routes", req)
				calls.Add(1)
				switch {
				case err != nil:
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case r.Kind == abi.RouteVia && r.Site == "a":
					fromGo.Add(1)
				case r.Kind == abi.RouteDeny && r.Reason == "not a local node":
					fromWAT.Add(1)
				default:
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("unexpected route %+v", r))
				}
			}
		}()
	}
	// 20 swaps, and more until lookups have seen both versions: a loaded
	// machine may run few lookups between two swaps. The deadline bounds
	// a broken engine.
	swaps := 0
	deadline := time.Now().Add(30 * time.Second)
	for ; (swaps < 20 || fromGo.Load() == 0 || fromWAT.Load() == 0) && time.Now().Before(deadline); swaps++ {
		if swaps%2 == 0 {
			install(t, e, "routes", watMod, "")
		} else if _, err := e.Rollback(ctx, "routes"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d swaps, %d lookups: %d by the Go version, %d by the WAT version", swaps, calls.Load(), fromGo.Load(), fromWAT.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d of %d lookups failed during swaps; first: %v", failures.Load(), calls.Load(), firstErr.Load())
	}
	if fromGo.Load() == 0 || fromWAT.Load() == 0 {
		t.Errorf("lookups did not see both versions")
	}
	st := mustInfo(t, e, "routes").Stats
	if st.Failures != 0 || st.Calls != uint64(calls.Load()) {
		t.Errorf("stats = %+v, want %d calls and no failure", st, calls.Load())
	}
}

func TestStoreReopen(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Config{DataDir: dir, KeepVersions: 3})
	goMod, watMod := staticMap(t), localOnly(t)
	cfg := func(site string) string {
		return fmt.Sprintf(`{"routes": [{"match": "*", "site": %q}]}`, site)
	}
	install(t, e, "routes", goMod, cfg("v1"))
	install(t, e, "routes", watMod, "")
	install(t, e, "routes", goMod, cfg("v3"))
	install(t, e, "routes", goMod, cfg("v4"))
	install(t, e, "local", watMod, "")
	if _, err := e.Activate(ctx, "routes", 3); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Lookup(ctx, "routes", remoteReq); err != ErrClosed {
		t.Errorf("Lookup after Close: %v, want ErrClosed", err)
	}

	if cached, _ := os.ReadDir(filepath.Join(dir, "cache")); len(cached) == 0 {
		t.Error("no compiled code cached under the data dir")
	}
	start := time.Now()
	e2 := newEngine(t, Config{DataDir: dir, KeepVersions: 3})
	t.Logf("reopened with 2 policies (one in Go) in %v", time.Since(start))
	infos := e2.Policies()
	if len(infos) != 2 || infos[0].Name != "local" || infos[1].Name != "routes" {
		t.Fatalf("Policies after reopening = %+v", infos)
	}
	info := infos[1]
	var seqs []int
	for _, v := range info.Versions {
		seqs = append(seqs, v.Seq)
	}
	if info.Active.Seq != 3 || fmt.Sprint(seqs) != "[4 3 2]" {
		t.Fatalf("routes after reopening: active %d, versions %v; want 3 of [4 3 2]", info.Active.Seq, seqs)
	}
	r, err := e2.Lookup(ctx, "routes", remoteReq)
	if err != nil || r.Site != "v3" {
		t.Fatalf("Lookup after reopening = %+v, %v; want via v3", r, err)
	}
	// Version 1 was dropped, and its module with it only if unused: the Go
	// module is still used by versions 3 and 4.
	files, _ := filepath.Glob(filepath.Join(dir, "policies", "routes", "*.wasm"))
	if len(files) != 2 {
		t.Errorf("module files = %v, want 2 (Go and WAT)", files)
	}
	if _, err := e2.Activate(ctx, "routes", 1); err == nil {
		t.Error("activated a dropped version")
	}
	if v, err := e2.Rollback(ctx, "routes"); err != nil || v.Seq != 2 {
		t.Fatalf("Rollback = %+v, %v; want version 2", v, err)
	}
	if r, _ := e2.Lookup(ctx, "routes", remoteReq); r.Reason != "not a local node" {
		t.Fatalf("after rollback to the WAT version: %+v", r)
	}
	if err := e2.Remove("local"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "policies", "local")); !os.IsNotExist(err) {
		t.Errorf("removed policy still on disk: %v", err)
	}
}

func TestStoreCorruptModule(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Config{DataDir: dir})
	v := install(t, e, "local", localOnly(t), "")
	e.Close(ctx)
	path := filepath.Join(dir, "policies", "local", v.SHA256+".wasm")
	if err := os.WriteFile(path, []byte("\x00asm\x01\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, Config{DataDir: dir})
	info := mustInfo(t, e2, "local")
	if info.Err == nil || info.Active.Seq != 0 {
		t.Fatalf("a tampered module loaded: %+v", info)
	}
	if r, err := e2.Lookup(ctx, "local", remoteReq); err == nil || r.Kind != abi.RouteDeny {
		t.Fatalf("Lookup on an unloaded policy = %+v, %v; want a denial", r, err)
	}
}

func TestCloseLeaksNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	e, err := New(ctx, Config{CacheDir: cacheDir, CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	install(t, e, "go", staticMap(t), staticMapConfig)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				e.Lookup(ctx, "go", remoteReq)
			}
		}()
	}
	wg.Wait()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 100 {
			t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
