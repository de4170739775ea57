package wasmtest

import (
	"fmt"
	"strings"
)

// BulkWAT returns the text of a hostile policy without a loop or a call:
// its lookup runs count bulk instructions in a straight line over its 64
// MiB of memory (the gateway's default cap), each a memory.fill of all of
// it (op "fill") or a memory.copy of one half onto the other (op "copy").
// One instruction takes a millisecond or so: unless the host checks its
// deadline between them, count of them run to the end, whatever the
// deadline. The text is written out and built with BuildWAT.
func BulkWAT(op string, count int) (string, error) {
	var instr string
	switch op {
	case "fill":
		instr = "(memory.fill (i32.const 0) (i32.const 7) (i32.const 0x4000000))"
	case "copy":
		instr = "(memory.copy (i32.const 0) (i32.const 0x2000000) (i32.const 0x2000000))"
	default:
		return "", fmt.Errorf("wasmtest: bulk op %q, want fill or copy", op)
	}
	var b strings.Builder
	fmt.Fprintf(&b, ";; %d memory.%s over 64 MiB in a straight line: no loop, no call.\n", count, op)
	b.WriteString("(module\n  (memory (export \"memory\") 1024)\n")
	b.WriteString("  (func (export \"distgate_abi_v1\"))\n")
	b.WriteString("  (func (export \"distgate_alloc\") (param i32) (result i32) (i32.const 4096))\n")
	b.WriteString("  (func (export \"distgate_lookup\") (param i32 i32) (result i64)\n")
	for range count {
		b.WriteString("    " + instr + "\n")
	}
	b.WriteString("    (i64.const -1)))\n")
	return b.String(), nil
}
