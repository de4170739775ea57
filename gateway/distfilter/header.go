package distfilter

import (
	"encoding/binary"
	"slices"
	"unicode/utf8"
)

// Distribution headers (erl_dist_protocol, "Distribution Header"; OTP's
// erts_prepare_dist_ext in external.c is the receiving side). Every
// message after the handshake is a 4-byte length and a packet; an empty
// packet is a tick. With DFLAG_DIST_HDR_ATOM_CACHE or DFLAG_FRAGMENTS a
// packet starts with a header:
//
//	131 'D' N Flags Refs            Control [Payload]
//	131 'E' Seq:8 Frag:8 N Flags Refs Control [Payload...]   first fragment
//	131 'F' Seq:8 Frag:8            Payload...               the next ones
//
// and without them with the pass-through byte:
//
//	'p' 131 Control [131 Payload]
//
// N (1 byte) counts the atom cache references. Flags are N/2+1 bytes
// (none when N is 0) of half-bytes, the first reference's in the low half
// of the first byte: bit 3 set when the reference defines a new cache
// entry, bits 0-2 the high bits of its cache index. The half-byte after
// the last reference's has the long-atoms flag in bit 0. Each reference
// is then the low byte of its cache index and, for a new entry, the atom's
// length (1 byte, 2 with long atoms) and UTF-8 text. ATOM_CACHE_REF terms
// ('R', index) in the control message and payload name the references
// by their position. A fragmented message's fragments count down from
// Frag to 1; its control message lies whole in the first.
const (
	hdrNormal      = 'D'
	hdrFragment    = 'E'
	hdrFragmentCnt = 'F'
	passThrough    = 'p' // 112, the packet's first byte without a header

	fragHeaderLen = 2 + 8 + 8 // 131, 'E' or 'F', sequence and fragment ids

	// cacheSize is ERTS_ATOM_CACHE_SIZE: cache indices are below it.
	cacheSize = 2048
	// maxAtomChars and maxAtomBytes bound an atom: 255 characters of up to
	// 4 bytes (MAX_ATOM_CHARACTERS, MAX_ATOM_SZ_LIMIT).
	maxAtomChars = 255
	maxAtomBytes = 4 * maxAtomChars
	// maxRefs is the most references a header holds (one byte).
	maxRefs = 255
)

// atomCache is the receiving node's atom cache for the direction a filter
// decodes, as the headers so far defined it: the atom text of each index.
type atomCache struct {
	text [cacheSize][]byte // nil: never defined
}

// set defines entry ix, reusing its storage.
func (c *atomCache) set(ix int, text []byte) {
	if c.text[ix] == nil {
		c.text[ix] = make([]byte, 0, max(len(text), 16)) // defined, even as ''
	}
	c.text[ix] = append(c.text[ix][:0], text...)
}

// atomTable is one message's atom translation table: the text of each of
// its header's references, in order, copied so that a later reference
// redefining the same cache entry does not change an earlier one (the
// receiving node resolves them in order too).
type atomTable struct {
	n    int
	off  [maxRefs + 1]int32 // text i is slab[off[i]:off[i+1]]
	slab []byte
}

func (t *atomTable) reset() {
	t.n = 0
	t.slab = t.slab[:0]
}

func (t *atomTable) add(text []byte) {
	t.slab = append(t.slab, text...)
	t.n++
	t.off[t.n] = int32(len(t.slab))
}

func (t *atomTable) text(i int) []byte { return t.slab[t.off[i]:t.off[i+1]] }

// header is a packet's distribution header.
type header struct {
	kind      byte   // hdrNormal, hdrFragment, hdrFragmentCnt or passThrough
	seq, frag uint64 // fragment headers
	// refsAt is where the atom cache references start (N, the count):
	// a replacement of the message as a normal header copies
	// packet[refsAt:end].
	refsAt int
	end    int  // where the control message (or a fragment's data) starts
	refs   int  // atom cache references
	defs   bool // some reference defines a cache entry
}

// parseHeader reads the header at the start of packet p. It returns
// errShort when p ends within the header (complete: p is the whole
// packet, and running out is malformed). It reads the cache, to check
// that the references to entries exist, but changes nothing: apply does,
// once the header is known to be whole.
func parseHeader(p []byte, headers, complete bool, cache *atomCache) (header, error) {
	short := func() (header, error) {
		if complete {
			return header{}, bad("distribution header truncated")
		}
		return header{}, errShort
	}
	if len(p) < 2 {
		return short()
	}
	if !headers {
		// Without a header the receiving node skips the first byte,
		// whatever it is, and wants 131 next; it must be 'p' here,
		// so that the gateway and the node read the same packet.
		if p[0] != passThrough || p[1] != versionMagic {
			return header{}, bad("pass-through packet without 'p' 131")
		}
		return header{kind: passThrough, end: 2}, nil
	}
	if p[0] != versionMagic {
		return header{}, bad("packet without a distribution header")
	}
	h := header{kind: p[1]}
	switch h.kind {
	case hdrNormal:
		h.refsAt = 2
	case hdrFragment, hdrFragmentCnt:
		if len(p) < fragHeaderLen {
			return short()
		}
		h.seq = binary.BigEndian.Uint64(p[2:])
		h.frag = binary.BigEndian.Uint64(p[10:])
		if h.frag == 0 {
			return header{}, bad("fragment id 0")
		}
		if h.kind == hdrFragmentCnt {
			h.end = fragHeaderLen
			return h, nil
		}
		h.refsAt = fragHeaderLen
	default:
		return header{}, bad("unknown distribution header " + itoa(int64(h.kind)))
	}
	off := h.refsAt
	if len(p) <= off {
		return short()
	}
	h.refs = int(p[off])
	off++
	if h.refs == 0 {
		h.end = off
		return h, nil
	}
	flagBytes := h.refs/2 + 1
	if len(p) < off+flagBytes {
		return short()
	}
	flags := p[off : off+flagBytes]
	off += flagBytes
	long := nibble(flags, h.refs)&1 != 0
	var defined [maxRefs]uint16 // entries this header defines, in order
	nd := 0
	for i := 0; i < h.refs; i++ {
		f := nibble(flags, i)
		if len(p) <= off {
			return short()
		}
		ix := int(f&7)<<8 | int(p[off])
		off++
		if f&8 == 0 {
			if cache.text[ix] == nil && !slices.Contains(defined[:nd], uint16(ix)) {
				return header{}, bad("atom cache reference to an undefined entry")
			}
			continue
		}
		defined[nd] = uint16(ix)
		nd++
		h.defs = true
		var n int
		if long {
			if len(p) < off+2 {
				return short()
			}
			n = int(binary.BigEndian.Uint16(p[off:]))
			off += 2
		} else {
			if len(p) < off+1 {
				return short()
			}
			n = int(p[off])
			off++
		}
		if len(p) < off+n {
			return short()
		}
		if err := checkAtom(p[off : off+n]); err != nil {
			return header{}, err
		}
		off += n
	}
	h.end = off
	return h, nil
}

// nibble returns the i-th half-byte of the header's flags.
func nibble(flags []byte, i int) byte {
	return flags[i>>1] >> (uint(i&1) * 4) & 0xf
}

// checkAtom checks an atom's text as the receiving node does when it adds
// it to its atom table: UTF-8, at most 255 characters.
func checkAtom(text []byte) error {
	if len(text) > maxAtomBytes || !utf8.Valid(text) || utf8.RuneCount(text) > maxAtomChars {
		return bad("atom in the distribution header is not valid UTF-8 of at most 255 characters")
	}
	return nil
}

// apply defines the header's new cache entries, in order, and fills the
// message's translation table. p is the packet parseHeader read h from.
func (h *header) apply(p []byte, cache *atomCache, table *atomTable) {
	table.reset()
	if h.refs == 0 {
		return
	}
	off := h.refsAt + 1
	flagBytes := h.refs/2 + 1
	flags := p[off : off+flagBytes]
	off += flagBytes
	long := nibble(flags, h.refs)&1 != 0
	for i := 0; i < h.refs; i++ {
		f := nibble(flags, i)
		ix := int(f&7)<<8 | int(p[off])
		off++
		if f&8 == 0 {
			table.add(cache.text[ix])
			continue
		}
		var n int
		if long {
			n = int(binary.BigEndian.Uint16(p[off:]))
			off += 2
		} else {
			n = int(p[off])
			off++
		}
		cache.set(ix, p[off:off+n])
		table.add(p[off : off+n])
		off += n
	}
}
