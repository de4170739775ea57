package wasmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestBuildWAT(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "m.wat")
	os.WriteFile(src, []byte(`(module (memory (export "memory") 1))`), 0o600)
	b := NewBuilder(dir)
	m := b.WAT(t, src)
	if !bytes.HasPrefix(m, []byte("\x00asm")) {
		t.Fatalf("not a module: % x", m)
	}
	if again := b.WAT(t, src); &again[0] != &m[0] {
		t.Error("built twice")
	}
	os.WriteFile(src, []byte(`(module (bad`), 0o600)
	if _, err := BuildWAT(src, filepath.Join(dir, "bad.wasm")); err == nil {
		t.Error("BuildWAT of bad text succeeded")
	}
}

func TestBuildGoError(t *testing.T) {
	if _, err := BuildGo(t.TempDir(), filepath.Join(t.TempDir(), "x.wasm")); err == nil {
		t.Error("BuildGo of an empty directory succeeded")
	}
	if r := LookupRequest(); r.Node() != "db1@h1.example" || len(r.Local) != 2 {
		t.Errorf("LookupRequest() = %+v", r)
	}
}
