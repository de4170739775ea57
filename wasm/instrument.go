package wasm

import (
	"encoding/binary"
	"fmt"
)

// Deadlines. wazero's own way to stop a runaway call
// (RuntimeConfig.WithCloseOnContextDone) makes every loop iteration leave
// the compiled code for a check in Go, which costs a Go guest ten times its
// run time (every Go function has a loop). The engine instruments modules
// instead: instrument adds a mutable i32 global, exported as
// interruptExport, and at the head of every loop
//
//	global.get $interrupt  if  unreachable  end
//
// a load and a branch. The timer of a call past its deadline sets the
// global; the guest traps at its next loop iteration, and the engine
// discards the instance. Recursion without loops ends in a stack overflow,
// and the host functions return at once, so every call ends.
const interruptExport = "distgate.interrupt"

// Section ids, and their order in a module.
const (
	secCustom    = 0
	secImport    = 2
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secCode      = 10
	secDataCount = 12
	secTag       = 13
)

var sectionRank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id      byte
	payload []byte
}

// errInstrument wraps the errors of instrument: ErrInvalidModule.
func errInstrument(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidModule}, args...)...)
}

// instrument returns module with the interrupt global and its checks. It
// refuses a module it cannot instrument (an unknown instruction, a start
// function) with ErrInvalidModule; other malformations are left for the
// compiler to report.
func instrument(module []byte) ([]byte, error) {
	var secs []section
	r := &reader{b: module, off: len(wasmMagic)}
	for r.more() {
		id := r.byte()
		n := r.u32()
		payload := r.bytes(int(n))
		if r.err != nil {
			return nil, errInstrument("truncated section %d", id)
		}
		secs = append(secs, section{id, payload})
	}
	var importedGlobals, definedGlobals uint32
	for _, s := range secs {
		switch s.id {
		case secStart:
			return nil, errInstrument("has a start function; a policy initializes in _initialize or distgate_init")
		case secImport:
			n, err := countImportedGlobals(s.payload)
			if err != nil {
				return nil, err
			}
			importedGlobals = n
		case secGlobal:
			definedGlobals, _ = (&reader{b: s.payload}).u32Checked()
		case secExport:
			if err := checkExportFree(s.payload, interruptExport); err != nil {
				return nil, err
			}
		}
	}
	globals := importedGlobals + definedGlobals
	check := binary.AppendUvarint([]byte{0x23}, uint64(globals)) // global.get $interrupt
	check = append(check, 0x04, 0x40, 0x00, 0x0b)                // if unreachable end

	var haveGlobal, haveExport bool
	for i := range secs {
		s := &secs[i]
		switch s.id {
		case secGlobal:
			haveGlobal = true
			s.payload = appendVec(s.payload, globalEntry)
		case secExport:
			haveExport = true
			s.payload = appendVec(s.payload, exportEntry(globals))
		case secCode:
			p, err := instrumentCode(s.payload, check, globals)
			if err != nil {
				return nil, err
			}
			s.payload = p
		}
	}
	if !haveGlobal {
		secs = insertSection(secs, section{secGlobal, append([]byte{1}, globalEntry...)})
	}
	if !haveExport {
		secs = insertSection(secs, section{secExport, append([]byte{1}, exportEntry(globals)...)})
	}
	out := append(make([]byte, 0, len(module)+len(module)/16), wasmMagic...)
	for _, s := range secs {
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(s.payload)))
		out = append(out, s.payload...)
	}
	return out, nil
}

// globalEntry is (global (mut i32) (i32.const 0)).
var globalEntry = []byte{0x7f, 0x01, 0x41, 0x00, 0x0b}

func exportEntry(global uint32) []byte {
	b := binary.AppendUvarint(nil, uint64(len(interruptExport)))
	b = append(b, interruptExport...)
	b = append(b, 0x03) // a global
	return binary.AppendUvarint(b, uint64(global))
}

// appendVec adds one entry to a vector payload: count, entries.
func appendVec(payload, entry []byte) []byte {
	r := &reader{b: payload}
	n := r.u32()
	out := binary.AppendUvarint(nil, uint64(n)+1)
	out = append(out, payload[r.off:]...)
	return append(out, entry...)
}

// insertSection inserts s before the first known section that follows it.
func insertSection(secs []section, s section) []section {
	for i, t := range secs {
		if t.id != secCustom && sectionRank[t.id] > sectionRank[s.id] {
			return append(secs[:i], append([]section{s}, secs[i:]...)...)
		}
	}
	return append(secs, s)
}

func countImportedGlobals(p []byte) (uint32, error) {
	r := &reader{b: p}
	n := r.u32()
	var globals uint32
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.bytes(int(r.u32())) // module
		r.bytes(int(r.u32())) // name
		switch kind := r.byte(); kind {
		case 0: // func
			r.u32()
		case 1: // table
			r.byte()
			r.limits()
		case 2: // memory
			r.limits()
		case 3: // global
			r.byte()
			r.byte()
			globals++
		case 4: // tag
			r.byte()
			r.u32()
		default:
			return 0, errInstrument("import of unknown kind %d", kind)
		}
	}
	if r.err != nil {
		return 0, errInstrument("malformed import section")
	}
	return globals, nil
}

func checkExportFree(p []byte, name string) error {
	r := &reader{b: p}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if string(r.bytes(int(r.u32()))) == name {
			return errInstrument("exports %q, a name the host reserves", name)
		}
		r.byte()
		r.u32()
	}
	return nil
}

// instrumentCode rewrites the code section: a check after every loop
// header. It refuses an access to a global at or beyond globals, the
// index instrument gives the interrupt global.
func instrumentCode(p, check []byte, globals uint32) ([]byte, error) {
	r := &reader{b: p}
	n := r.u32()
	out := binary.AppendUvarint(make([]byte, 0, len(p)+len(p)/8), uint64(n))
	var body []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		fn := &reader{b: r.bytes(int(size))}
		if r.err != nil {
			return nil, errInstrument("truncated code section")
		}
		var err error
		if body, err = instrumentBody(body[:0], fn, check, globals); err != nil {
			return nil, fmt.Errorf("%w (function %d of the code section)", err, i)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	return out, nil
}

func instrumentBody(out []byte, r *reader, check []byte, globals uint32) ([]byte, error) {
	locals := r.u32()
	for j := uint32(0); j < locals; j++ {
		r.u32()
		if t := r.byte(); t == 0x63 || t == 0x64 {
			return nil, errInstrument("typed function references are not supported")
		}
	}
	out = append(out, r.b[:r.off]...)
	for r.more() && r.err == nil {
		start := r.off
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x03 || op == 0x04 || op == 0x06: // block loop if try
			r.blockType()
		case op <= 0x01 || op == 0x05 || op == 0x0a || op == 0x0b || op == 0x0f || op == 0x19 || op == 0x1a || op == 0x1b:
		case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x0c || op == 0x0d || op == 0x10 || op == 0x12 ||
			op == 0x14 || op == 0x15 || op == 0x18 || op == 0x20 || op == 0x21 || op == 0x22 || op == 0x25 ||
			op == 0x26 || op == 0xd2 || op == 0xd5 || op == 0xd6: // ... ref.func, br_on_null, br_on_non_null
			r.u32()
		case op == 0x23 || op == 0x24: // global.get, global.set
			if g := r.u32(); g >= globals && r.err == nil {
				return nil, errInstrument("global %d out of range", g)
			}
		case op == 0x0e: // br_table
			for k := r.u32(); k > 0 && r.err == nil; k-- {
				r.u32()
			}
			r.u32()
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			r.u32()
			r.u32()
		case op == 0x1c: // select t*
			for k := r.u32(); k > 0 && r.err == nil; k-- {
				r.byte()
			}
		case op == 0x1f: // try_table
			r.blockType()
			for k := r.u32(); k > 0 && r.err == nil; k-- {
				if kind := r.byte(); kind <= 1 {
					r.u32()
				}
				r.u32()
			}
		case op >= 0x28 && op <= 0x3e: // loads and stores
			r.memarg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41:
			r.sleb()
		case op == 0x42:
			r.sleb()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op >= 0x45 && op <= 0xc4, op == 0xd1, op == 0xd3, op == 0xd4: // numeric, ref.is_null, ref.eq, ref.as_non_null
		case op == 0xd0: // ref.null
			r.sleb()
		case op == 0xfc:
			r.prefixFC()
		case op == 0xfd:
			r.prefixFD()
		case op == 0xfe:
			if sub := r.u32(); sub == 0x03 {
				r.byte()
			} else {
				r.memarg()
			}
		default:
			return nil, errInstrument("unsupported instruction 0x%02x", op)
		}
		if r.err != nil {
			break
		}
		out = append(out, r.b[start:r.off]...)
		if op == 0x03 {
			out = append(out, check...)
		}
	}
	if r.err != nil {
		return nil, errInstrument("malformed function body: %v", r.err)
	}
	return out, nil
}
