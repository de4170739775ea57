// Package wasmtest builds policy modules for tests: Go policies with the
// standard toolchain (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared) and
// WebAssembly text with wat2wasm from WABT. A Builder builds each source
// once per test process; a package's TestMain usually creates one:
//
//	var build *wasmtest.Builder
//
//	func TestMain(m *testing.M) {
//		dir, _ := os.MkdirTemp("", "policies")
//		build = wasmtest.NewBuilder(dir)
//		code := m.Run()
//		os.RemoveAll(dir)
//		os.Exit(code)
//	}
//
// and tests call build.Go(t, "../samples/policies/static-map"). BuildGo and
// BuildWAT do the same without a test, for commands such as the policy
// benchmark; LookupRequest is the request it times.
package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/distgate/distgate/abi"
)

// Builder builds modules into a directory and remembers them. It is safe
// for concurrent use.
type Builder struct {
	dir string

	mu    sync.Mutex // guards the following
	built map[string]*result
}

type result struct {
	once   sync.Once
	module []byte
	err    error
	skip   string // why the build is skipped (a missing tool)
}

// NewBuilder returns a Builder writing its outputs under dir.
func NewBuilder(dir string) *Builder {
	return &Builder{dir: dir, built: map[string]*result{}}
}

func (b *Builder) get(key string, build func(out string) ([]byte, string, error)) ([]byte, string, error) {
	b.mu.Lock()
	r := b.built[key]
	if r == nil {
		r = &result{}
		b.built[key] = r
	}
	b.mu.Unlock()
	r.once.Do(func() {
		sum := sha256.Sum256([]byte(key))
		out := filepath.Join(b.dir, hex.EncodeToString(sum[:8])+".wasm")
		r.module, r.skip, r.err = build(out)
	})
	return r.module, r.skip, r.err
}

// ErrNoWat2wasm is returned by BuildWAT when wat2wasm is not installed.
var ErrNoWat2wasm = errors.New("wat2wasm (Debian package wabt) is not installed")

// BuildGo builds the Go policy in directory pkg into the file out, with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, and returns the
// module. It needs the go command on PATH.
func BuildGo(pkg, out string) ([]byte, error) {
	abs, err := filepath.Abs(pkg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wasmtest: go build %s: %v\n%s", pkg, err, msg)
	}
	return os.ReadFile(out)
}

// BuildWAT builds a WebAssembly text file into the file out with
// wat2wasm and returns the module.
func BuildWAT(file, out string) ([]byte, error) {
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		return nil, ErrNoWat2wasm
	}
	if msg, err := exec.Command(tool, file, "-o", out).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wasmtest: wat2wasm %s: %v\n%s", file, err, msg)
	}
	return os.ReadFile(out)
}

// Go builds the Go policy in directory pkg and returns the module.
func (b *Builder) Go(t testing.TB, pkg string) []byte {
	t.Helper()
	abs, err := filepath.Abs(pkg)
	if err != nil {
		t.Fatal(err)
	}
	module, _, err := b.get("go:"+abs, func(out string) ([]byte, string, error) {
		m, err := BuildGo(abs, out)
		return m, "", err
	})
	if err != nil {
		t.Fatal(err)
	}
	return module
}

// WAT builds a WebAssembly text file with wat2wasm and returns the module.
// Without wat2wasm the test is skipped, or fails when the environment
// variable CI is "true".
func (b *Builder) WAT(t testing.TB, file string) []byte {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	module, skip, err := b.get("wat:"+abs, func(out string) ([]byte, string, error) {
		m, err := BuildWAT(abs, out)
		if errors.Is(err, ErrNoWat2wasm) {
			return nil, err.Error(), nil
		}
		return m, "", err
	})
	switch {
	case skip != "" && os.Getenv("CI") == "true":
		t.Fatal(skip)
	case skip != "":
		t.Skip(skip)
	case err != nil:
		t.Fatal(err)
	}
	return module
}

// LookupRequest returns a typical lookup: a full name, an asker with an
// identity and a label, and the registry's two endpoints. The bench-policy
// command times decisions on it.
func LookupRequest() *abi.LookupRequest {
	return &abi.LookupRequest{
		Name: "db1", Host: "h1.example", Accept: []string{"inet_tls", "inet_tcp"},
		Asker: abi.Asker{
			Node: "web@h2", Site: "eu", Identity: "spiffe://example.org/web",
			Labels: []abi.Label{{Key: "region", Value: "eu"}},
		},
		LocalHost: true, Registered: true,
		Local: []abi.Endpoint{
			{Proto: "inet_tcp", Port: 40001, Family: abi.FamilyInet, HighVsn: 6, LowVsn: 5, NodeType: 'M'},
			{Proto: "inet_tls", Port: 40002, Family: abi.FamilyInet, HighVsn: 6, LowVsn: 5, NodeType: 'M'},
		},
	}
}
