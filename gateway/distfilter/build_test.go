package distfilter

import "encoding/binary"

// Builders of distribution packets and terms for tests, written from the
// protocol's description (header.go, etf.go), not from the decoder.

// ref is one atom cache reference of a header.
type ref struct {
	ix   int    // cache index, below 2048
	text string // the atom; a new entry when def
	def  bool
}

// hdr builds a normal header (131 'D' ...) with refs.
func hdr(refs ...ref) []byte { return hdrKind(hdrNormal, 0, 0, false, refs...) }

// hdrKind builds a header of kind 'D' or 'E' (with seq and frag).
func hdrKind(kind byte, seq, frag uint64, long bool, refs ...ref) []byte {
	b := []byte{versionMagic, kind}
	if kind == hdrFragment {
		b = binary.BigEndian.AppendUint64(b, seq)
		b = binary.BigEndian.AppendUint64(b, frag)
	}
	b = append(b, byte(len(refs)))
	if len(refs) == 0 {
		return b
	}
	flags := make([]byte, len(refs)/2+1)
	set := func(i int, v byte) { flags[i/2] |= v << (4 * uint(i%2)) }
	for i, r := range refs {
		v := byte(r.ix>>8) & 7
		if r.def {
			v |= 8
		}
		set(i, v)
	}
	if long {
		set(len(refs), 1)
	}
	b = append(b, flags...)
	for _, r := range refs {
		b = append(b, byte(r.ix))
		if r.def {
			if long {
				b = binary.BigEndian.AppendUint16(b, uint16(len(r.text)))
			} else {
				b = append(b, byte(len(r.text)))
			}
			b = append(b, r.text...)
		}
	}
	return b
}

// cont builds a continuation fragment's header.
func cont(seq, frag uint64) []byte {
	b := []byte{versionMagic, hdrFragmentCnt}
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint64(b, frag)
}

// pkt frames parts as one packet.
func pkt(parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func small(v byte) []byte   { return []byte{tagSmallInt, v} }
func atomT(s string) []byte { return append([]byte{tagSmallAtomUTF, byte(len(s))}, s...) }
func latin(s string) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{tagAtom}, uint16(len(s))), s...)
}
func cref(i byte) []byte { return []byte{tagAtomCacheRef, i} }
func nilT() []byte       { return []byte{tagNil} }

func tuple(elems ...[]byte) []byte {
	b := []byte{tagSmallTuple, byte(len(elems))}
	for _, e := range elems {
		b = append(b, e...)
	}
	return b
}

// list builds a proper list.
func list(elems ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{tagList}, uint32(len(elems)))
	for _, e := range elems {
		b = append(b, e...)
	}
	return append(b, tagNil)
}

func binT(n int) []byte {
	b := binary.BigEndian.AppendUint32([]byte{tagBinary}, uint32(n))
	return append(b, make([]byte, n)...)
}

// pid builds a NEW_PID_EXT of node (an encoded atom term).
func pid(node []byte, id uint32) []byte {
	b := append([]byte{tagNewPid}, node...)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, 0)
	return binary.BigEndian.AppendUint32(b, 7)
}

// reference builds a NEWER_REFERENCE_EXT of node with 3 words.
func reference(node []byte, w uint32) []byte {
	b := binary.BigEndian.AppendUint16([]byte{tagNewerRef}, 3)
	b = append(b, node...)
	b = binary.BigEndian.AppendUint32(b, 7)
	for i := uint32(0); i < 3; i++ {
		b = binary.BigEndian.AppendUint32(b, w+i)
	}
	return b
}

// handshake returns the handshake messages of a connection from node
// "a@h" (dialling) to "b@h", as TCP distribution frames them: what a
// sends (toward b) and what b sends.
func handshake(flags uint64) (fromA, fromB []byte) {
	frame := func(m []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(m))), m...) }
	name := func(tag byte, extra []byte, n string) []byte {
		m := []byte{tag}
		m = binary.BigEndian.AppendUint64(m, flags)
		m = append(m, extra...)
		m = binary.BigEndian.AppendUint32(m, 9) // creation
		m = binary.BigEndian.AppendUint16(m, uint16(len(n)))
		return append(m, n...)
	}
	fromA = cat(frame(name(hsSendNameV6, nil, "a@h")), frame(append([]byte{hsReply, 1, 2, 3, 4}, make([]byte, 16)...)))
	fromB = cat(frame([]byte("sok")), frame(name(hsSendNameV6, []byte{5, 6, 7, 8}, "b@h")), frame(append([]byte{hsAck}, make([]byte, 16)...)))
	return fromA, fromB
}

// dflags are the flags of the test handshakes: headers and fragments.
const dflags = 0x2000 | 0x800000
