package wasm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestInstallRefusesBadModules(t *testing.T) {
	e := newEngine(t, Config{MaxModuleBytes: 8 << 20})
	for _, tc := range []struct {
		name   string
		module func(t *testing.T) []byte
		config string
		want   string
	}{
		{"text", func(t *testing.T) []byte { return []byte("(module)") }, "", "not a WebAssembly module"},
		{"empty", func(t *testing.T) []byte { return nil }, "", "not a WebAssembly module"},
		{"truncated", func(t *testing.T) []byte { return localOnly(t)[:40] }, "", "truncated section"},
		{"binary version 2", func(t *testing.T) []byte { return []byte("\x00asm\x02\x00\x00\x00") }, "", "binary version 2"},
		{"too big", func(t *testing.T) []byte {
			return append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte{0}, 8<<20)...)
		}, "", "exceeds the cap"},
		{"no marker", func(t *testing.T) []byte { return testdata(t, "no_marker") }, "", "no export distgate_abi_v1 (exports: add)"},
		{"abi v2", func(t *testing.T) []byte { return testdata(t, "abi_v2") }, "", "module speaks ABI version 2; this gateway speaks version 1"},
		{"no alloc", func(t *testing.T) []byte { return testdata(t, "no_alloc") }, "", "missing export distgate_alloc (i32) -> (i32)"},
		{"bad signature", func(t *testing.T) []byte { return testdata(t, "bad_sig") }, "", "export distgate_lookup has type (i32) -> (i32), want (i32, i32) -> (i64)"},
		{"command", func(t *testing.T) []byte { return testdata(t, "command") }, "", "WASI command"},
		{"no decision", func(t *testing.T) []byte { return testdata(t, "no_decision") }, "", "exports none of distgate_lookup, distgate_authorize and distgate_filter"},
		{"huge memory", func(t *testing.T) []byte { return testdata(t, "huge_memory") }, "", "memory of 2000 pages (125 MiB) at start exceeds the cap of 1024 pages (64 MiB)"},
		{"bad import", func(t *testing.T) []byte { return testdata(t, "bad_import") }, "", "imports env.connect; only modules distgate and wasi_snapshot_preview1"},
		{"bad host signature", func(t *testing.T) []byte { return testdata(t, "bad_host_sig") }, "", "imports distgate.log with type (i32) -> (), want (i32, i32, i32) -> ()"},
		{"init refuses", func(t *testing.T) []byte { return testdata(t, "init_refuses") }, "", "distgate_init refused: config rejected: want JSON"},
		{"go config refused", func(t *testing.T) []byte { return staticMap(t) }, `{"routes": [{"match": "["}]}`, `bad pattern "["`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Install(ctx, "bad", tc.module(t), []byte(tc.config))
			if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Install: %v\nwant ErrInvalidModule saying %q", err, tc.want)
			}
		})
	}
	if _, err := e.Policy("bad"); !errors.Is(err, ErrNoPolicy) {
		t.Errorf("a refused module was stored: Policy(bad) err = %v", err)
	}
}

func TestInstallRefusesBadNamesAndConfigs(t *testing.T) {
	e := newEngine(t, Config{MaxConfigBytes: 10})
	m := localOnly(t)
	for _, name := range []string{"", "../x", ".hidden", "UPPER", "a/b", strings.Repeat("x", 65)} {
		if _, err := e.Install(ctx, name, m, nil); err == nil {
			t.Errorf("Install(%q) succeeded", name)
		}
	}
	if _, err := e.Install(ctx, "ok", m, make([]byte, 11)); !errors.Is(err, ErrInvalidModule) {
		t.Errorf("Install with an 11-byte config over a cap of 10: %v", err)
	}
}
