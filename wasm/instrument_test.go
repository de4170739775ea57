package wasm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func TestInstrument(t *testing.T) {
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for _, name := range []string{"loop", "trap", "garbage", "grow"} {
		m, err := instrument(testdata(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cm, err := rt.CompileModule(ctx, m)
		if err != nil {
			t.Fatalf("%s: instrumented module does not compile: %v", name, err)
		}
		mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil || mod.ExportedGlobal(fuelExport) == nil || mod.ExportedGlobal(stopExport) == nil {
			t.Errorf("%s: no %s and %s exports", name, fuelExport, stopExport)
		}
		cm.Close(ctx)
	}
	// loop.wat has no global: the fuel is global 0, the stop 1, checked
	// at the loop.
	check := newChecks(0, 1, 2).plain
	if want := []byte{0x23, 0x00, 0x42, 0x01, 0x7d, 0x24, 0x00, 0x23, 0x00, 0x23, 0x01, 0x57, 0x04, 0x40, 0x00, 0x0b}; !bytes.Equal(check, want) {
		t.Errorf("check = % x, want % x", check, want)
	}
	m, _ := instrument(testdata(t, "loop"))
	if loop := append([]byte{0x03, 0x40}, check...); !bytes.Contains(m, loop) {
		t.Errorf("loop header without the check % x", loop)
	}
	// recursion.wat: $f calls, so it checks at its entry (after its
	// empty locals, before local.get 0); the leaf distgate_alloc does not.
	m, _ = instrument(testdata(t, "recursion"))
	if entry := append(append([]byte{0x00}, check...), 0x20, 0x00, 0x04, 0x40); !bytes.Contains(m, entry) {
		t.Errorf("recursive function without the check at its entry % x", entry)
	}
	if leaf := []byte{0x00, 0x41, 0x80, 0x20, 0x0b}; !bytes.Contains(m, leaf) { // i32.const 4096 end
		t.Errorf("leaf function changed: no % x", leaf)
	}
	// The bulk instructions are checked just before, with fuel for their
	// size; opcodes.wat has a global, so the fuel is global 1.
	m, _ = instrument(testdata(t, "opcodes"))
	for _, op := range []struct {
		name  string
		code  []byte
		shift int
	}{{"memory.init", []byte{0xfc, 0x08}, 5}, {"memory.copy", []byte{0xfc, 0x0a}, 5}, {"memory.fill", []byte{0xfc, 0x0b}, 5}} {
		if want := append(newChecks(1, 2, 3).appendBulk(nil, op.shift), op.code...); !bytes.Contains(m, want) {
			t.Errorf("%s without its check before it: no % x", op.name, want)
		}
	}
}

func TestInstrumentRefuses(t *testing.T) {
	// A body reading global 0 in a module without globals: invalid as
	// uploaded, it would read the interrupt once instrumented.
	sneaky := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type () -> ()
		"\x03\x02\x01\x00" + // one function
		"\x0a\x07\x01\x05\x00\x23\x00\x1a\x0b") // global.get 0, drop, end
	for _, tc := range []struct {
		name   string
		module []byte
		want   string
	}{
		{"sneaky global", sneaky, "global 0 out of range"},
		{"start", testdata(t, "start"), "has a start function"},
		{"reserved export", testdata(t, "reserved_export"), `exports "distgate.stop"`},
		{"unknown opcode", bytes.Replace(sneaky, []byte{0x23, 0x00, 0x1a}, []byte{0x01, 0x01, 0xff}, 1), "unsupported instruction 0xff"},
		{"truncated body", sneaky[:len(sneaky)-2], "truncated"},
	} {
		_, err := instrument(tc.module)
		if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidModule saying %q", tc.name, err, tc.want)
		}
	}
}

func TestInstrumentKeepsSemantics(t *testing.T) {
	orig := testdata(t, "opcodes")
	inst, err := instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	run := func(m []byte) uint64 {
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		mod, err := rt.InstantiateWithConfig(ctx, m, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		if fuel, ok := mod.ExportedGlobal(fuelExport).(api.MutableGlobal); ok {
			fuel.Set(1 << 40) // the instrumented module: fuel for the call
		}
		r, err := mod.ExportedFunction("compute").Call(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r[0]
	}
	if a, b := run(orig), run(inst); a != b {
		t.Fatalf("compute = %d before instrumentation, %d after", a, b)
	}
}
