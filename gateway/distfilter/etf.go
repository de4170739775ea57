package distfilter

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// External term format tags (erts/emulator/beam/external.h; the "External
// Term Format" chapter of ERTS's user guide). Lengths are big-endian.
const (
	tagNewFloat     = 70  // 'F' 8B IEEE float
	tagBitBinary    = 77  // 'M' 4B len, 1B bits, data
	tagCompressed   = 80  // 'P' 4B uncompressed size, zlib stream (self-delimiting)
	tagAtomCacheRef = 82  // 'R' 1B index into the message's atom translation table
	tagNewerRef     = 90  // 'Z' 2B len, node, 4B creation, len*4B ids
	tagNewPid       = 88  // 'X' node, 4B id, 4B serial, 4B creation
	tagNewPort      = 89  // 'Y' node, 4B id, 4B creation
	tagSmallInt     = 97  // 'a' 1B unsigned
	tagInt          = 98  // 'b' 4B signed
	tagFloat        = 99  // 'c' 31B text
	tagAtom         = 100 // 'd' 2B len, Latin-1 text
	tagRef          = 101 // 'e' node, 4B id, 1B creation
	tagPort         = 102 // 'f' node, 4B id, 1B creation
	tagPid          = 103 // 'g' node, 4B id, 4B serial, 1B creation
	tagSmallTuple   = 104 // 'h' 1B arity, elements
	tagLargeTuple   = 105 // 'i' 4B arity, elements
	tagNil          = 106 // 'j'
	tagString       = 107 // 'k' 2B len, bytes (a list of small integers)
	tagList         = 108 // 'l' 4B len, elements, tail
	tagBinary       = 109 // 'm' 4B len, data
	tagSmallBig     = 110 // 'n' 1B n, 1B sign, n bytes little-endian
	tagLargeBig     = 111 // 'o' 4B n, 1B sign, n bytes little-endian
	tagNewFun       = 112 // 'p' 4B size (of the whole term, tag excluded), ...
	tagExport       = 113 // 'q' module atom, function atom, arity small integer
	tagNewRef       = 114 // 'r' 2B len, node, 1B creation, len*4B ids
	tagSmallAtom    = 115 // 's' 1B len, Latin-1 text
	tagMap          = 116 // 't' 4B arity, key and value pairs
	tagAtomUTF8     = 118 // 'v' 2B len, UTF-8 text
	tagSmallAtomUTF = 119 // 'w' 1B len, UTF-8 text
	tagV4Port       = 120 // 'x' node, 8B id, 4B creation
)

// versionMagic starts an external term (131), and a distribution header.
const versionMagic = 131

// maxSmall and minSmall bound the integers an OTP node (64-bit) holds as
// small integers: a distribution message's operation, flags and arities
// must be small; a big-integer encoding of a small value decodes as one.
const (
	maxSmall = 1<<59 - 1
	minSmall = -1 << 59
)

// errShort says that the bytes end before the term: more may come. It is
// a sentinel compared with ==: it is returned for every partial message,
// often.
var errShort = errors.New("distfilter: term truncated")

// BadError is a distribution stream the receiving node would refuse (or
// that breaks a limit of the gateway): the connection is closed.
type BadError struct{ What string }

func (e *BadError) Error() string { return "distfilter: " + e.What }

// bad returns a *BadError.
func bad(what string) error { return &BadError{What: what} }

// reader reads terms from b. It never allocates on the paths a normal
// message takes.
type reader struct {
	b     []byte
	off   int
	atoms *atomTable // the message's atom translation table; nil without a header
	// complete is set when b holds everything that can ever be read:
	// running out is then malformed input, not errShort.
	complete bool
}

// short is what running out of bytes means for this reader.
func (r *reader) short() error {
	if r.complete {
		return bad("term truncated")
	}
	return errShort
}

func (r *reader) need(n int) error {
	if n < 0 || len(r.b)-r.off < n {
		return r.short()
	}
	return nil
}

func (r *reader) u8() (byte, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	v := r.b[r.off]
	r.off++
	return v, nil
}

func (r *reader) u16() (int, error) {
	if err := r.need(2); err != nil {
		return 0, err
	}
	v := int(binary.BigEndian.Uint16(r.b[r.off:]))
	r.off += 2
	return v, nil
}

func (r *reader) u32() (uint32, error) {
	if err := r.need(4); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if err := r.need(n); err != nil {
		return nil, err
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v, nil
}

// peek returns the next tag without consuming it.
func (r *reader) peek() (byte, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	return r.b[r.off], nil
}

// open returns the reader of the next term. Distribution refuses
// compressed terms (tag 80) anywhere: OTP's decoder of distribution
// messages has no case for them (checked with OTP 25:
// erts_debug:dist_ext_to_term/2 refuses <<131,80,...>> at the top and
// nested), and the receiving node closes the connection. So does the
// filter. open is where a structured read starts; it returns r.
func (r *reader) open() (*reader, error) {
	tag, err := r.peek()
	if err == nil && tag == tagCompressed {
		return nil, bad("compressed term: distribution refuses them")
	}
	return r, err
}

// atom reads an atom and returns its text in UTF-8. The text is valid
// until the next message.
func (r *reader) atom() ([]byte, error) {
	t, err := r.open()
	if err != nil {
		return nil, err
	}
	tag, err := t.u8()
	if err != nil {
		return nil, err
	}
	return t.atomBody(tag)
}

// atomBody reads an atom after its tag.
func (r *reader) atomBody(tag byte) ([]byte, error) {
	var n int
	var err error
	switch tag {
	case tagSmallAtomUTF, tagSmallAtom:
		var b byte
		b, err = r.u8()
		n = int(b)
	case tagAtomUTF8, tagAtom:
		n, err = r.u16()
	case tagAtomCacheRef:
		var ix byte
		if ix, err = r.u8(); err != nil {
			return nil, err
		}
		if r.atoms == nil || int(ix) >= r.atoms.n {
			return nil, bad("atom cache reference out of the message's table")
		}
		return r.atoms.text(int(ix)), nil
	default:
		return nil, bad("not an atom: tag " + itoa(int64(tag)))
	}
	if err != nil {
		return nil, err
	}
	text, err := r.bytes(n)
	if err != nil {
		return nil, err
	}
	if tag == tagAtom || tag == tagSmallAtom {
		return latin1(text), nil
	}
	if !utf8.Valid(text) {
		return nil, bad("atom not in UTF-8")
	}
	return text, nil
}

// latin1 returns Latin-1 text in UTF-8: the text itself when it is ASCII.
func latin1(text []byte) []byte {
	ascii := true
	for _, c := range text {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return text
	}
	out := make([]byte, 0, 2*len(text))
	for _, c := range text {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

// integer reads an integer and reports whether it is small (fits an OTP
// small integer), with its value then.
func (r *reader) integer() (v int64, small bool, err error) {
	t, err := r.open()
	if err != nil {
		return 0, false, err
	}
	tag, err := t.u8()
	if err != nil {
		return 0, false, err
	}
	switch tag {
	case tagSmallInt:
		b, err := t.u8()
		return int64(b), true, err
	case tagInt:
		u, err := t.u32()
		return int64(int32(u)), true, err
	case tagSmallBig, tagLargeBig:
		var n int
		if tag == tagSmallBig {
			b, err := t.u8()
			if err != nil {
				return 0, false, err
			}
			n = int(b)
		} else {
			u, err := t.u32()
			if err != nil {
				return 0, false, err
			}
			if u > 1<<30 {
				return 0, false, t.short()
			}
			n = int(u)
		}
		sign, err := t.u8()
		if err != nil {
			return 0, false, err
		}
		digits, err := t.bytes(n)
		if err != nil {
			return 0, false, err
		}
		// Leading zero digits do not count; a value of more than 8
		// significant bytes is not small.
		for len(digits) > 0 && digits[len(digits)-1] == 0 {
			digits = digits[:len(digits)-1]
		}
		if len(digits) > 8 {
			return 0, false, nil
		}
		var u uint64
		for i := len(digits) - 1; i >= 0; i-- {
			u = u<<8 | uint64(digits[i])
		}
		if sign == 0 {
			if u > maxSmall {
				return 0, false, nil
			}
			return int64(u), true, nil
		}
		if u > -minSmall {
			return 0, false, nil
		}
		return -int64(u), true, nil
	}
	t.off-- // the tag is not an integer's: leave it for skip
	return 0, false, nil
}

// tuple reads a tuple's header and returns its reader and arity.
func (r *reader) tuple() (*reader, int, error) {
	t, err := r.open()
	if err != nil {
		return nil, 0, err
	}
	tag, err := t.u8()
	if err != nil {
		return nil, 0, err
	}
	switch tag {
	case tagSmallTuple:
		b, err := t.u8()
		return t, int(b), err
	case tagLargeTuple:
		u, err := t.u32()
		if err == nil && int64(u) > int64(len(t.b)) && t.complete {
			err = bad("tuple arity beyond the message")
		}
		return t, int(u), err
	}
	t.off--
	return t, -1, nil
}

// listKind is what list found.
type listKind uint8

const (
	notList    listKind = iota
	nilList             // NIL_EXT
	stringList          // STRING_EXT: a list of small integers, already skipped
	consList            // LIST_EXT: the elements then the tail follow
)

// list reads the header of a list and returns its reader, its length (0
// for NIL_EXT, the element count of LIST_EXT and STRING_EXT) and kind.
func (r *reader) list() (t *reader, n int, kind listKind, err error) {
	t, err = r.open()
	if err != nil {
		return nil, 0, notList, err
	}
	tag, err := t.u8()
	if err != nil {
		return nil, 0, notList, err
	}
	switch tag {
	case tagNil:
		return t, 0, nilList, nil
	case tagString:
		n, err := t.u16()
		if err == nil {
			_, err = t.bytes(n)
		}
		return t, n, stringList, err
	case tagList:
		u, err := t.u32()
		if err == nil && uint64(u) > uint64(len(t.b)) {
			err = t.short()
		}
		return t, int(u), consList, err
	}
	t.off--
	return t, 0, notList, nil
}

// term is where a pid, a reference or another term lies in a reader's
// bytes, with the node atom's text when it has one: what re-encoding it
// without atom cache references needs.
type term struct {
	raw  []byte // the term's bytes as received
	tag  byte
	node []byte // node name (pids, ports, references)
	// nodeAt and nodeEnd delimit the node atom's encoding in raw.
	nodeAt, nodeEnd int
}

// identifier reads a pid, a port or a reference (after open) and returns
// it; ok is false when the next term is none of them.
func (r *reader) identifier() (term, bool, error) {
	t, err := r.open()
	if err != nil {
		return term{}, false, err
	}
	start := t.off
	tag, err := t.u8()
	if err != nil {
		return term{}, false, err
	}
	var after int // bytes after the node atom
	switch tag {
	case tagNewPid:
		after = 12
	case tagPid:
		after = 9
	case tagNewPort:
		after = 8
	case tagPort, tagRef:
		after = 5
	case tagV4Port:
		after = 12
	case tagNewRef, tagNewerRef:
		n, err := t.u16()
		if err != nil {
			return term{}, false, err
		}
		if n > maxRefWords {
			return term{}, false, bad("reference of " + itoa(int64(n)) + " words")
		}
		after = 4*n + 1
		if tag == tagNewerRef {
			after = 4*n + 4
		}
	default:
		t.off--
		return term{}, false, nil
	}
	nodeAt := t.off - start
	node, err := t.atom()
	if err != nil {
		return term{}, false, err
	}
	nodeEnd := t.off - start
	if _, err := t.bytes(after); err != nil {
		return term{}, false, err
	}
	return term{raw: t.b[start:t.off], tag: tag, node: node, nodeAt: nodeAt, nodeEnd: nodeEnd}, true, nil
}

// maxRefWords bounds the 32-bit words of a reference: OTP's
// ERTS_MAX_REF_NUMBERS (5).
const maxRefWords = 5

// skip skips n terms. It keeps a count of the terms still to skip, not a
// stack: a container adds its elements to the count, so nesting costs
// nothing and has no depth limit, as in the receiving node.
func (r *reader) skip(n int) error {
	for n > 0 {
		// Each term takes at least one byte: a count beyond the bytes
		// left cannot be met.
		if n > len(r.b)-r.off {
			return r.short()
		}
		n--
		tag, err := r.u8()
		if err != nil {
			return err
		}
		var fixed int // bytes after the tag
		switch tag {
		case tagSmallInt:
			fixed = 1
		case tagInt:
			fixed = 4
		case tagNewFloat:
			fixed = 8
		case tagFloat:
			fixed = 31
		case tagNil:
		case tagAtomCacheRef:
			ix, err := r.u8()
			if err != nil {
				return err
			}
			if r.atoms == nil || int(ix) >= r.atoms.n {
				return bad("atom cache reference out of the message's table")
			}
		case tagSmallAtomUTF, tagSmallAtom:
			b, err := r.u8()
			if err != nil {
				return err
			}
			fixed = int(b)
		case tagAtomUTF8, tagAtom, tagString:
			u, err := r.u16()
			if err != nil {
				return err
			}
			fixed = u
		case tagBinary, tagBitBinary, tagLargeBig:
			u, err := r.u32()
			if err != nil {
				return err
			}
			if uint64(u) > uint64(len(r.b)) {
				return r.short()
			}
			fixed = int(u)
			if tag != tagBinary {
				fixed++ // the bits of the last byte, the sign
			}
		case tagSmallBig:
			b, err := r.u8()
			if err != nil {
				return err
			}
			fixed = int(b) + 1
		case tagSmallTuple:
			b, err := r.u8()
			if err != nil {
				return err
			}
			n += int(b)
		case tagLargeTuple, tagMap, tagList:
			u, err := r.u32()
			if err != nil {
				return err
			}
			if uint64(u) > uint64(len(r.b)) {
				return r.short()
			}
			switch tag {
			case tagLargeTuple:
				n += int(u)
			case tagMap:
				n += 2 * int(u)
			default:
				n += int(u) + 1 // elements and tail
			}
		case tagNewPid, tagPid, tagNewPort, tagPort, tagV4Port, tagRef, tagNewRef, tagNewerRef:
			r.off--
			if _, ok, err := r.identifier(); err != nil || !ok {
				if err == nil {
					err = bad("bad identifier")
				}
				return err
			}
		case tagExport:
			n += 3 // module, function, arity
		case tagNewFun:
			// OTP skips the 4B total size and parses the fields: 1B arity,
			// 16B uniq, 4B index, 4B free variable count, then the module
			// atom, old index, old uniq, creator pid and the free
			// variables. The size is not trusted here either: a size that
			// lies cannot hide terms from the filter.
			if _, err := r.bytes(4 + 1 + 16 + 4); err != nil {
				return err
			}
			free, err := r.u32()
			if err != nil {
				return err
			}
			if uint64(free) > uint64(len(r.b)) {
				return r.short()
			}
			n += 4 + int(free)
		case tagCompressed:
			return bad("compressed term: distribution refuses them")
		default:
			return bad("unknown term tag " + itoa(int64(tag)))
		}
		if fixed > 0 {
			if _, err := r.bytes(fixed); err != nil {
				return err
			}
		}
	}
	return nil
}

// itoa formats n without strconv's allocation-free guarantees mattering:
// it is used on error paths only.
func itoa(n int64) string {
	var b [24]byte
	i := len(b)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
