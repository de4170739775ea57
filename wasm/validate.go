package wasm

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/distgate/distgate/abi"
)

// wasmMagic starts every binary module: "\0asm" and version 1.
var wasmMagic = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// signature is a function type.
type signature struct {
	params, results []api.ValueType
}

func (s signature) String() string {
	name := func(ts []api.ValueType) string {
		var out []string
		for _, t := range ts {
			out = append(out, api.ValueTypeName(t))
		}
		return "(" + strings.Join(out, ", ") + ")"
	}
	return name(s.params) + " -> " + name(s.results)
}

func (s signature) matches(def api.FunctionDefinition) bool {
	return slices.Equal(s.params, def.ParamTypes()) && slices.Equal(s.results, def.ResultTypes())
}

// The guest exports of abi.Version, with their signatures.
var (
	sigMarker   = signature{}
	sigAlloc    = signature{[]api.ValueType{i32}, []api.ValueType{i32}}
	sigInit     = signature{nil, []api.ValueType{i64}}
	sigDecision = signature{[]api.ValueType{i32, i32}, []api.ValueType{i64}}
)

// hostImports are the functions of module abi.HostModule.
var hostImports = map[string]signature{
	abi.ImportLog:        {[]api.ValueType{i32, i32, i32}, nil},
	abi.ImportNow:        {nil, []api.ValueType{i64}},
	abi.ImportConfigSize: {nil, []api.ValueType{i32}},
	abi.ImportConfigRead: {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
}

// checkBytes refuses what is not worth compiling: too large, or not a
// binary WebAssembly module.
func checkBytes(module []byte, maxBytes int) error {
	switch {
	case len(module) > maxBytes:
		return fmt.Errorf("%w: module of %d bytes exceeds the cap of %d", ErrInvalidModule, len(module), maxBytes)
	case len(module) < len(wasmMagic) || !bytes.Equal(module[:4], wasmMagic[:4]):
		return fmt.Errorf("%w: not a WebAssembly module (no \\0asm magic; a text .wat must be built with wat2wasm first)", ErrInvalidModule)
	case !bytes.Equal(module[4:8], wasmMagic[4:]):
		return fmt.Errorf("%w: WebAssembly binary version %d, want 1", ErrInvalidModule, module[4])
	}
	return nil
}

// checkMemory reads the memory section of a binary module (after
// checkBytes) and refuses a memory whose initial size exceeds the cap,
// before compiling it: the compiler would refuse it too, but as "not
// valid WebAssembly".
func checkMemory(module []byte, maxPages uint32) error {
	b := module[len(wasmMagic):]
	for len(b) > 0 {
		id := b[0]
		size, n := uleb(b[1:])
		if n == 0 || uint64(len(b)-1-n) < size {
			return nil // malformed: left to the compiler
		}
		body := b[1+n : 1+n+int(size)]
		b = b[1+n+int(size):]
		if id != 5 { // the memory section
			continue
		}
		count, n := uleb(body)
		if n == 0 || count == 0 {
			return nil
		}
		body = body[n:]
		if len(body) < 1 {
			return nil
		}
		min, n := uleb(body[1:]) // after the limits' flags byte
		if n > 0 && min > uint64(maxPages) {
			return fmt.Errorf("%w: memory of %d pages (%d MiB) at start exceeds the cap of %d pages (%d MiB)",
				ErrInvalidModule, min, min*pageSize>>20, maxPages, uint64(maxPages)*pageSize>>20)
		}
		return nil
	}
	return nil
}

// uleb decodes an unsigned LEB128 number; n is 0 when b is truncated.
func uleb(b []byte) (v uint64, n int) {
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// exports says which optional exports a module has.
type exports struct {
	initialize, init, lookup, authorize, filter bool
}

// checkModule checks a compiled module against the ABI: exports and
// their signatures, imports, memory. wasi lists the functions the WASI
// host module provides.
func checkModule(cm wazero.CompiledModule, maxPages uint32, wasi map[string]api.FunctionDefinition) (exports, error) {
	var ex exports
	fns := cm.ExportedFunctions()
	bad := func(format string, args ...any) (exports, error) {
		return exports{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidModule}, args...)...)
	}

	// The version marker comes first: a module of another ABI version
	// would fail every other check for a reason that hides the real one.
	if _, ok := fns[abi.ExportVersion]; !ok {
		var others []string
		for name := range fns {
			if v, ok := strings.CutPrefix(name, abi.ExportVersionPrefix); ok {
				if _, err := strconv.Atoi(v); err == nil {
					others = append(others, v)
				}
			}
		}
		if len(others) > 0 {
			slices.Sort(others)
			return bad("module speaks ABI version %s; this gateway speaks version %d (export %s)",
				strings.Join(others, ", "), abi.Version, abi.ExportVersion)
		}
		return bad("not a distgate policy: no export %s (exports: %s)", abi.ExportVersion, exportNames(fns))
	}
	if _, ok := fns[abi.ExportStart]; ok {
		return bad("exports %s: it is a WASI command; a policy is a reactor (Go: build with -buildmode=c-shared)", abi.ExportStart)
	}
	want := []struct {
		name     string
		sig      signature
		required bool
		have     *bool
	}{
		{abi.ExportVersion, sigMarker, true, nil},
		{abi.ExportAlloc, sigAlloc, true, nil},
		{abi.ExportInitialize, sigMarker, false, &ex.initialize},
		{abi.ExportInit, sigInit, false, &ex.init},
		{abi.ExportLookup, sigDecision, false, &ex.lookup},
		{abi.ExportAuthorize, sigDecision, false, &ex.authorize},
		{abi.ExportFilter, sigDecision, false, &ex.filter},
	}
	for _, w := range want {
		def, ok := fns[w.name]
		switch {
		case !ok && w.required:
			return bad("missing export %s %v", w.name, w.sig)
		case !ok:
			continue
		case !w.sig.matches(def):
			return bad("export %s has type %v, want %v", w.name, signature{def.ParamTypes(), def.ResultTypes()}, w.sig)
		}
		if w.have != nil {
			*w.have = true
		}
	}
	if !ex.lookup && !ex.authorize && !ex.filter {
		return bad("exports none of %s, %s and %s", abi.ExportLookup, abi.ExportAuthorize, abi.ExportFilter)
	}

	if mems := cm.ImportedMemories(); len(mems) > 0 {
		mod, name, _ := mems[0].Import()
		return bad("imports memory %s.%s; a policy must define its own", mod, name)
	}
	mem, ok := cm.ExportedMemories()[abi.ExportMemory]
	if !ok {
		return bad("missing export %q (its linear memory)", abi.ExportMemory)
	}
	if mem.Min() > maxPages {
		return bad("memory of %d pages (%d MiB) at start exceeds the cap of %d pages (%d MiB)",
			mem.Min(), uint64(mem.Min())*pageSize>>20, maxPages, uint64(maxPages)*pageSize>>20)
	}

	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		got := signature{def.ParamTypes(), def.ResultTypes()}
		switch mod {
		case abi.HostModule:
			sig, ok := hostImports[name]
			if !ok {
				return bad("imports %s.%s, which does not exist (host functions: %s)", mod, name, mapKeys(hostImports))
			}
			if !sig.matches(def) {
				return bad("imports %s.%s with type %v, want %v", mod, name, got, sig)
			}
		case abi.WASIModule:
			w, ok := wasi[name]
			if !ok {
				return bad("imports %s.%s, which is not provided", mod, name)
			}
			if !(signature{w.ParamTypes(), w.ResultTypes()}).matches(def) {
				return bad("imports %s.%s with type %v, want %v", mod, name, got, signature{w.ParamTypes(), w.ResultTypes()})
			}
		default:
			return bad("imports %s.%s; only modules %s and %s are available", mod, name, abi.HostModule, abi.WASIModule)
		}
	}
	return ex, nil
}

func exportNames(fns map[string]api.FunctionDefinition) string {
	if len(fns) == 0 {
		return "none"
	}
	return mapKeys(fns)
}

func mapKeys[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}
