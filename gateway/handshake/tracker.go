package handshake

// Tracker follows the message boundaries of the bytes one node receives
// on a TCP-distribution connection, so that a gateway may insert a tick
// (an empty 4-byte-framed packet) between two messages and never inside
// one.
//
// The node that accepted a connection receives 2-byte-framed handshake
// messages ending with the challenge reply ('r'); the node that dialled
// receives them ending with the challenge ack ('a'). After that message
// every packet has a 4-byte length. The tracker is told which side it
// watches; it is pure and takes bytes as they pass.
type Tracker struct {
	last    byte // the tag that ends the handshake in this direction
	state   trackerState
	hdr     [4]byte
	hdrLen  int // bytes of the current length prefix seen
	remain  int // bytes left in the current message body
	tagNext bool
}

type trackerState int

const (
	inHandshake trackerState = iota // 2-byte frames
	inData                          // 4-byte frames
	broken                          // framing not understood: never tick
)

// NewTracker returns a tracker of the bytes a node receives; dialled says
// whether that node dialled the connection.
func NewTracker(dialled bool) *Tracker {
	if dialled {
		return &Tracker{last: 'a'}
	}
	return &Tracker{last: 'r'}
}

// Feed advances the tracker over bytes sent to the node.
func (t *Tracker) Feed(b []byte) {
	for len(b) > 0 && t.state != broken {
		size := 2
		if t.state == inData {
			size = 4
		}
		if t.remain == 0 && t.hdrLen < size {
			n := copy(t.hdr[t.hdrLen:size], b)
			t.hdrLen += n
			b = b[n:]
			if t.hdrLen < size {
				return
			}
			if size == 2 {
				t.remain = int(t.hdr[0])<<8 | int(t.hdr[1])
			} else {
				t.remain = int(t.hdr[0])<<24 | int(t.hdr[1])<<16 | int(t.hdr[2])<<8 | int(t.hdr[3])
			}
			t.tagNext = t.state == inHandshake
			if t.remain == 0 {
				t.hdrLen = 0
				if t.state == inHandshake {
					t.state = broken // an empty handshake message does not exist
				}
			}
			continue
		}
		if t.tagNext {
			if b[0] == t.last {
				t.last = 0 // seen: the next header is a 4-byte one
			}
			t.tagNext = false
		}
		n := min(len(b), t.remain)
		t.remain -= n
		b = b[n:]
		if t.remain == 0 {
			t.hdrLen = 0
			if t.state == inHandshake && t.last == 0 {
				t.state = inData
			}
		}
	}
}

// CanTick reports whether a tick may be sent now: the handshake is over
// and no message is half sent.
func (t *Tracker) CanTick() bool {
	return t.state == inData && t.remain == 0 && t.hdrLen == 0
}

// Tick is the distribution tick: an empty packet.
var Tick = []byte{0, 0, 0, 0}
