package wasm

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Deadlines. wazero's own way to stop a runaway call
// (RuntimeConfig.WithCloseOnContextDone) makes every loop iteration and
// function call leave the compiled code for a check in Go, which costs a
// Go guest ten times its run time (every Go function has a loop). The
// engine instruments modules instead: instrument adds two mutable i64
// globals, the call's fuel (exported as fuelExport), which the guest
// counts down, and its stop (exported as stopExport), which only the host
// writes, and the check
//
//	fuel -= 1; if fuel <= stop { unreachable }
//
// (two loads, a subtraction, a store and a branch) at every place from
// which a call can run on:
//
//   - the head of every loop: a backward branch;
//   - the entry of every function that calls (call, call_indirect,
//     return_call, call_ref, ...): recursion, direct, mutual, through a
//     table or a tail call, has no loop, and a recursion of depth 60 that
//     calls itself twice does not overflow the stack, it runs for 2^60
//     calls. A function that calls nothing and has no loop runs through
//     its body once, in time bounded by its size, so it needs no check;
//   - after the calls that may reach a host function (a call of an
//     import, call_indirect, call_ref), where the guest's own checks do
//     not run;
//   - before every instruction whose run time grows with its operands
//     rather than with the code: the bulk instructions (memory.fill,
//     memory.copy, memory.init, memory.grow, table.fill, table.copy,
//     table.init, table.grow). Their check takes fuel in proportion to
//     their size, one unit per 32 bytes or 4 table elements.
//
// The host gives a call fuel for fuelPerNanosecond checks per nanosecond
// of its deadline, more than the fastest guest can burn, and a stop of 0;
// the timer of a call past its deadline sets the stop to the maximum, and
// the guest traps at its next check. (The timer cannot zero the fuel
// instead: a loop of nothing but the check is always between its load and
// its store of the fuel, and would overwrite the zero half the time.) The
// fuel alone ends a call the timer cannot reach: compiled
// guest code cannot be preempted, and when the Go runtime stops the world
// (a garbage collection) while a guest runs, it waits for the guest with
// every other thread stopped, timers included. Then the guest runs on
// until its fuel is spent (a deadline's worth of checks at one a
// nanosecond, at most maxFuel: a second at worst), and the world goes on.
//
// Between two checks a guest runs a bounded stretch: at most a function
// body and the leaf functions it calls, one bulk instruction, or one host
// call. One fill of the whole memory is the longest bulk instruction: 64
// MiB (the default cap) takes a few milliseconds, some tens the first
// time its pages are touched (deadline_test.go logs it). The host
// functions whose work grows with the guest's operands (fd_write of many
// buffers, random_get) stop at the deadline themselves (host.go); the
// others return at once.
const (
	fuelExport = "distgate.fuel"
	stopExport = "distgate.stop"
)

// Section ids, and their order in a module.
const (
	secCustom    = 0
	secImport    = 2
	secTable     = 4
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
	var importedFuncs, importedGlobals, definedGlobals uint32
	for _, s := range secs {
		switch s.id {
		case secStart:
			return nil, errInstrument("has a start function; a policy initializes in _initialize or distgate_init")
		case secImport:
			f, g, err := countImports(s.payload)
			if err != nil {
				return nil, err
			}
			importedFuncs, importedGlobals = f, g
		case secGlobal:
			definedGlobals, _ = (&reader{b: s.payload}).u32Checked()
		case secExport:
			for _, name := range []string{fuelExport, stopExport} {
				if err := checkExportFree(s.payload, name); err != nil {
					return nil, err
				}
			}
		}
	}
	globals := importedGlobals + definedGlobals
	check := newChecks(globals, globals+1, globals+2)

	var haveGlobal, haveExport bool
	for i := range secs {
		s := &secs[i]
		switch s.id {
		case secGlobal:
			haveGlobal = true
			s.payload = appendVec(s.payload, i64Entry, i64Entry, i32Entry)
		case secExport:
			haveExport = true
			s.payload = appendVec(s.payload, exportEntry(fuelExport, globals), exportEntry(stopExport, globals+1))
		case secTable:
			p, err := capTables(s.payload)
			if err != nil {
				return nil, err
			}
			s.payload = p
		case secCode:
			p, err := instrumentCode(s.payload, check, importedFuncs, globals)
			if err != nil {
				return nil, err
			}
			s.payload = p
		}
	}
	if !haveGlobal {
		secs = insertSection(secs, section{secGlobal, appendVec([]byte{0}, i64Entry, i64Entry, i32Entry)})
	}
	if !haveExport {
		secs = insertSection(secs, section{secExport, appendVec([]byte{0}, exportEntry(fuelExport, globals), exportEntry(stopExport, globals+1))})
	}
	out := append(make([]byte, 0, len(module)+len(module)/16), wasmMagic...)
	for _, s := range secs {
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(s.payload)))
		out = append(out, s.payload...)
	}
	return out, nil
}

// capTables rewrites the table section so that the module's tables hold
// at most maxTableElements references in all, for their whole life. The
// memory cap does not cover tables: they live on the gateway's Go heap,
// and one table.grow of 2^31 elements asked wazero for 16 GiB and ended
// the gateway with "fatal error: out of memory". A table keeps its
// initial size (a Go policy's table has about 6,000 elements and never
// grows); the elements left under the cap go to the first tables that
// may grow, within their own maximum, and table.grow beyond fails (-1) as
// the specification allows.
func capTables(p []byte) ([]byte, error) {
	type table struct {
		ref      byte
		min, max uint64
	}
	r := &reader{b: p}
	n := r.u32()
	tables := make([]table, 0, min(n, 1024))
	var initial uint64
	for i := uint32(0); i < n && r.err == nil; i++ {
		t := table{ref: r.byte(), max: maxTableElements}
		if t.ref != 0x70 && t.ref != 0x6f { // funcref, externref
			return nil, errInstrument("table %d of reference type 0x%02x is not supported", i, t.ref)
		}
		switch flags := r.byte(); flags {
		case 0:
			t.min = uint64(r.u32())
		case 1:
			t.min = uint64(r.u32())
			t.max = min(t.max, uint64(r.u32()))
		default:
			return nil, errInstrument("table %d with limits of kind %d is not supported", i, flags)
		}
		initial += t.min
		tables = append(tables, t)
	}
	if r.err != nil || r.more() {
		return nil, errInstrument("malformed table section")
	}
	if initial > maxTableElements {
		return nil, errInstrument("tables of %d elements exceed the cap of %d", initial, maxTableElements)
	}
	spare := maxTableElements - initial
	out := binary.AppendUvarint(nil, uint64(n))
	for _, t := range tables {
		grow := min(spare, max(t.max, t.min)-t.min)
		spare -= grow
		out = append(out, t.ref, 1)
		out = binary.AppendUvarint(out, t.min)
		out = binary.AppendUvarint(out, t.min+grow)
	}
	return out, nil
}

// The globals instrument adds: the fuel and the stop, each
// (global (mut i64) (i64.const 0)), and a scratch word for the size
// operand of bulk instructions, (global (mut i32) (i32.const 0)).
var (
	i64Entry = []byte{0x7e, 0x01, 0x42, 0x00, 0x0b}
	i32Entry = []byte{0x7f, 0x01, 0x41, 0x00, 0x0b}
)

func exportEntry(name string, global uint32) []byte {
	b := binary.AppendUvarint(nil, uint64(len(name)))
	b = append(b, name...)
	b = append(b, 0x03) // a global
	return binary.AppendUvarint(b, uint64(global))
}

// appendVec adds entries to a vector payload: count, entries.
func appendVec(payload []byte, entries ...[]byte) []byte {
	r := &reader{b: payload}
	n := r.u32()
	out := binary.AppendUvarint(nil, uint64(n)+uint64(len(entries)))
	out = append(out, payload[r.off:]...)
	for _, e := range entries {
		out = append(out, e...)
	}
	return out
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

// countImports returns how many functions and globals a module imports:
// they come first in their index spaces.
func countImports(p []byte) (funcs, globals uint32, err error) {
	r := &reader{b: p}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.bytes(int(r.u32())) // module
		r.bytes(int(r.u32())) // name
		switch kind := r.byte(); kind {
		case 0: // func
			funcs++
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
			return 0, 0, errInstrument("import of unknown kind %d", kind)
		}
	}
	if r.err != nil {
		return 0, 0, errInstrument("malformed import section")
	}
	return funcs, globals, nil
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

// instrumentCode rewrites the code section: checks of the interrupt
// (see the top of this file). It refuses an access to a global at or
// beyond globals, the index instrument gives the interrupt global.
func instrumentCode(p []byte, check checks, imports, globals uint32) ([]byte, error) {
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
		if body, err = instrumentBody(body[:0], fn, check, imports, globals); err != nil {
			return nil, fmt.Errorf("%w (function %d of the code section)", err, i)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	return out, nil
}

func instrumentBody(out []byte, r *reader, check checks, imports, globals uint32) ([]byte, error) {
	locals := r.u32()
	for j := uint32(0); j < locals; j++ {
		r.u32()
		if t := r.byte(); t == 0x63 || t == 0x64 {
			return nil, errInstrument("typed function references are not supported")
		}
	}
	out = append(out, r.b[:r.off]...)
	entry := len(out) // where a function that calls gets its check
	calls := false
	for r.more() && r.err == nil {
		start := r.off
		op := r.byte()
		bulkShift := -1 // a bulk check goes before this instruction: fuel per 2^bulkShift units of size
		after := false  // a check goes after it
		switch {
		case op == 0x02 || op == 0x03 || op == 0x04 || op == 0x06: // block loop if try
			r.blockType()
		case op <= 0x01 || op == 0x05 || op == 0x0a || op == 0x0b || op == 0x0f || op == 0x19 || op == 0x1a || op == 0x1b:
		case op == 0x10 || op == 0x12: // call, return_call
			calls = true
			after = r.u32() < imports // a host function
		case op == 0x14 || op == 0x15: // call_ref, return_call_ref: maybe a host function
			calls, after = true, true
			r.u32()
		case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x0c || op == 0x0d ||
			op == 0x18 || op == 0x20 || op == 0x21 || op == 0x22 || op == 0x25 ||
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
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect: maybe a host function
			calls, after = true, true
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
		case op == 0x3f: // memory.size
			r.u32()
		case op == 0x40: // memory.grow: one unit per page
			bulkShift = 0
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
			bulkShift = bulk(r.prefixFC())
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
		if bulkShift >= 0 {
			out = check.appendBulk(out, bulkShift)
		}
		out = append(out, r.b[start:r.off]...)
		if op == 0x03 || after { // loop
			out = append(out, check.plain...)
		}
	}
	if r.err != nil {
		return nil, errInstrument("malformed function body: %v", r.err)
	}
	if calls {
		out = slices.Insert(out, entry, check.plain...)
	}
	return out, nil
}

// bulk returns, for an instruction of prefix 0xfc whose run time grows
// with its size operand, the shift of that size that gives its fuel: one
// unit per 32 bytes (memory.init, memory.copy, memory.fill) or per 4
// elements (table.init, table.copy, table.grow, table.fill); -1 for the
// others.
func bulk(sub uint32) int {
	switch sub {
	case 8, 10, 11:
		return 5
	case 12, 14, 15, 17:
		return 2
	}
	return -1
}

// checks are the forms of the check of the fuel.
type checks struct {
	// plain is "fuel -= 1; if fuel <= stop { unreachable }". wazero's
	// compiler keeps a global's value in a register along straight-line
	// code and loads it anew only at the entry of a function, after a
	// call, and at the head of a loop (or a block several branches
	// reach): the places where plain is used, so that it sees the stop
	// the timer set.
	plain            []byte
	fuel, stop, temp uint32 // the indices of the globals
}

func newChecks(fuel, stop, temp uint32) checks {
	c := checks{fuel: fuel, stop: stop, temp: temp}
	c.plain = c.appendPlain(nil, []byte{0x42, 0x01}) // i64.const 1
	return c
}

// appendPlain appends "fuel -= cost; if fuel <= stop { unreachable }";
// cost is the code that pushes the i64 cost.
func (c checks) appendPlain(b, cost []byte) []byte {
	b = c.global(b, 0x23, c.fuel) // global.get $fuel
	b = append(b, cost...)
	b = append(b, 0x7d)           // i64.sub
	b = c.global(b, 0x24, c.fuel) // global.set $fuel
	b = c.global(b, 0x23, c.fuel)
	b = c.global(b, 0x23, c.stop)
	b = append(b, 0x57)                      // i64.le_s
	return append(b, 0x04, 0x40, 0x00, 0x0b) // if unreachable end
}

// appendBulk appends the check before a bulk instruction, whose size
// operand (i32) is on top of the stack: it takes fuel 1 + size>>shift. The
// size goes through the scratch global and back on the stack; the check
// is in a loop of one iteration, whose head makes the compiler load the
// fuel anew: a bulk instruction may follow other checks in straight-line
// code (memory.copy does not count as a call).
func (c checks) appendBulk(b []byte, shift int) []byte {
	b = c.global(b, 0x24, c.temp) // global.set $temp
	b = c.global(b, 0x23, c.temp) // global.get $temp: the size, back
	b = append(b, 0x03, 0x40)     // loop
	cost := c.global(nil, 0x23, c.temp)
	cost = append(cost, 0xad, 0x42, byte(shift), 0x88) // i64.extend_i32_u, i64.const shift, i64.shr_u
	cost = append(cost, 0x42, 0x01, 0x7c)              // i64.const 1, i64.add
	b = c.appendPlain(b, cost)
	return append(b, 0x0b) // end
}

func (c checks) global(b []byte, op byte, index uint32) []byte {
	return binary.AppendUvarint(append(b, op), uint64(index))
}
