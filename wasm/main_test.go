package wasm

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distgate/distgate/wasm/wasmtest"
)

// build and cacheDir are shared by the tests of the package: every module
// is built once, and compiled code is cached once, per test process.
var (
	build    *wasmtest.Builder
	cacheDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distgate-wasm-test")
	if err != nil {
		panic(err)
	}
	build = wasmtest.NewBuilder(dir)
	cacheDir = filepath.Join(dir, "cache")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const samples = "../samples/policies/"

// newEngine starts an engine with the shared cache, logging into the
// test's output, closed at the end of the test.
func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.CacheDir == "" && cfg.DataDir == "" {
		cfg.CacheDir = cacheDir
	}
	if cfg.CallTimeout == 0 {
		// Tests share two cores with other test binaries: only the tests
		// of deadlines use short ones.
		cfg.CallTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e
}

// install installs a module and fails the test on error.
func install(t testing.TB, e *Engine, name string, module []byte, config string) Version {
	t.Helper()
	v, err := e.Install(context.Background(), name, module, []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func staticMap(t testing.TB) []byte             { return build.Go(t, samples+"static-map") }
func localOnly(t testing.TB) []byte             { return build.WAT(t, samples+"local-only/local-only.wat") }
func testdata(t testing.TB, name string) []byte { return build.WAT(t, "testdata/"+name+".wat") }
