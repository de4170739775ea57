package wasm

import (
	"errors"
	"fmt"
)

// reader decodes the parts of a module instrument needs. Errors stick.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("truncated")

func (r *reader) more() bool { return r.err == nil && r.off < len(r.b) }

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.err = errTruncated
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b)-r.off {
		r.err = errTruncated
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

func (r *reader) u32() uint32 {
	v, n := uleb(r.b[min(r.off, len(r.b)):])
	if n == 0 || v > 1<<32-1 {
		r.err = errTruncated
		return 0
	}
	r.off += n
	return uint32(v)
}

func (r *reader) u32Checked() (uint32, error) {
	v := r.u32()
	return v, r.err
}

// sleb skips a signed LEB128 number.
func (r *reader) sleb() {
	for i := 0; i < 10; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.err = errTruncated
}

func (r *reader) blockType() {
	if r.off < len(r.b) {
		switch r.b[r.off] {
		case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			r.off++
			return
		}
	}
	r.sleb() // a type index, as a signed 33-bit number
}

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

func (r *reader) memarg() {
	if align := r.u32(); align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	if v, n := uleb(r.b[min(r.off, len(r.b)):]); n == 0 {
		r.err = errTruncated
	} else {
		_ = v
		r.off += n
	}
}

// prefixFC skips an instruction of prefix 0xfc and returns its opcode.
func (r *reader) prefixFC() uint32 {
	sub := r.u32()
	switch {
	case sub <= 7:
	case sub == 8 || sub == 10 || sub == 12 || sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case sub == 9 || sub == 11 || sub == 13 || sub == 15 || sub == 16 || sub == 17:
		r.u32()
	default:
		r.err = fmt.Errorf("unsupported instruction 0xfc %d", sub)
	}
	return sub
}

func (r *reader) prefixFD() {
	switch sub := r.u32(); {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // lane accessors
		r.byte()
	case sub >= 84 && sub <= 91: // load and store lane
		r.memarg()
		r.byte()
	}
}
