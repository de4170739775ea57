package distfilter

import "encoding/binary"

// SpawnDenied is the reason a denied spawn request fails with on the
// caller: erpc:call raises error({erpc, denied}), rpc:call returns
// {badrpc, {'EXIT', denied}}, spawn/4 raises. It is not notsup, on which
// rpc:call falls back to the rex server.
const SpawnDenied = "denied"

// dropControl is the control message that replaces a dropped message
// whose header defines atom cache entries: a REG_SEND to the name
// 'undefined', which no process can register, from a pid of the node ”;
// the receiving node defines the entries and discards the message. Its
// payload is [].
var dropControl = []byte{
	tagSmallTuple, 4,
	tagSmallInt, dopRegSend,
	tagNewPid, tagSmallAtomUTF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	tagSmallAtomUTF, 0,
	tagSmallAtomUTF, 9, 'u', 'n', 'd', 'e', 'f', 'i', 'n', 'e', 'd',
	tagNil,
}

// appendDropPacket appends the 4-byte framed packet that stands for the
// dropped packet p: the same atom cache references under a normal header
// (a first fragment becomes a whole message), and dropControl.
func appendDropPacket(dst, p []byte, h *header) []byte {
	refs := p[h.refsAt:h.end]
	dst = binary.BigEndian.AppendUint32(dst, uint32(2+len(refs)+len(dropControl)))
	dst = append(dst, versionMagic, hdrNormal)
	dst = append(dst, refs...)
	return append(dst, dropControl...)
}

// appendSpawnReply appends the 4-byte framed packet of a SPAWN_REPLY that
// fails the spawn request m: {31, ReqId, From, 0, Reason}, with no atom
// cache reference (the node names of ReqId and From written out), under
// an empty normal header or the pass-through byte.
func appendSpawnReply(dst []byte, m *Message, headers bool, reason string) []byte {
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	if headers {
		dst = append(dst, versionMagic, hdrNormal, 0)
	} else {
		dst = append(dst, passThrough, versionMagic)
	}
	dst = append(dst, tagSmallTuple, 5, tagSmallInt, dopSpawnReply)
	dst = appendPlain(dst, m.reqID)
	dst = appendPlain(dst, m.from)
	dst = append(dst, tagSmallInt, 0)
	dst = appendAtom(dst, []byte(reason))
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}

// appendPlain appends a pid or reference with its node atom written out
// (an atom cache reference would need a header that defines it).
func appendPlain(dst []byte, t term) []byte {
	dst = append(dst, t.raw[:t.nodeAt]...)
	dst = appendAtom(dst, t.node)
	return append(dst, t.raw[t.nodeEnd:]...)
}

// appendAtom appends a UTF-8 atom.
func appendAtom(dst, text []byte) []byte {
	if len(text) < 256 {
		dst = append(dst, tagSmallAtomUTF, byte(len(text)))
	} else {
		dst = append(dst, tagAtomUTF8)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(text)))
	}
	return append(dst, text...)
}
