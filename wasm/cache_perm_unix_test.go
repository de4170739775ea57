//go:build unix

package wasm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCacheRefusedWhenOthersMayWrite: a compilation cache that group or
// others may write, or a file in it, is refused: it is native code the
// engine would run.
func TestCacheRefusedWhenOthersMayWrite(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		set  func(t *testing.T, dir string)
	}{
		{"cache dir 0777", func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}},
		{"group-writable code", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "wazero", "code")
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o620); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tc.set(t, dir)
			e, err := New(ctx, Config{CacheDir: dir})
			if err == nil {
				e.Close(ctx)
				t.Fatal("New accepted a cache others may write")
			}
			if !strings.Contains(err.Error(), "writable by group or others") || !strings.Contains(err.Error(), dir) {
				t.Fatalf("New: %v; want the cache path and why", err)
			}
		})
	}
	// A cache of its own is used, and one that does not exist yet made.
	dir := filepath.Join(t.TempDir(), "fresh")
	e, err := New(ctx, Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.Close(ctx)
	if e, err = New(ctx, Config{CacheDir: dir}); err != nil {
		t.Fatalf("reopening its own cache: %v", err)
	}
	e.Close(ctx)
}
