package handshake

import "encoding/binary"

// Reframer rewrites the length prefixes of handshake messages in one
// direction of a connection, between TLS distribution (4-byte lengths
// from the start) and TCP distribution (2-byte lengths until the
// handshake ends), and passes every byte through unchanged once the last
// handshake message of that direction has gone by.
//
// The last handshake message a direction carries is the challenge reply
// ('r') from the node that dialled and the challenge ack ('a') from the
// node that accepted. A Reframer is pure: Feed takes bytes as they arrive
// and returns the bytes to send on.
type Reframer struct {
	from, to int  // length prefix sizes, 2 or 4
	last     byte // the tag of the last handshake message in this direction
	done     bool // past the handshake: pass bytes through
	hdr      [4]byte
	hdrLen   int
	remain   int // body bytes of the current message still to pass
	tagNext  bool
	err      error
}

// NewReframer returns a reframer from from-byte to to-byte prefixes for
// the direction whose last handshake message has tag last ('r' for what
// the dialling node sends, 'a' for what the accepting node sends).
func NewReframer(from, to int, last byte) *Reframer {
	return &Reframer{from: from, to: to, last: last, done: from == to}
}

// ErrTooLong is returned when a 4-byte-framed handshake message is too long
// for a 2-byte prefix.
type ErrTooLong struct{ Len int }

// Error describes the message that did not fit.
func (e ErrTooLong) Error() string {
	return "handshake: a message of " + itoa(e.Len) + " bytes does not fit a 2-byte length"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}

// Done reports whether the handshake is over in this direction.
func (r *Reframer) Done() bool { return r.done }

// Passthrough reports whether every byte from now on passes unchanged:
// the handshake is over and its last message has gone by whole.
func (r *Reframer) Passthrough() bool { return r.done && r.remain == 0 && r.err == nil }

// Feed rewrites in and appends the result to out. After an error the
// reframer stays failed and the connection must be closed.
func (r *Reframer) Feed(out, in []byte) ([]byte, error) {
	if r.err != nil {
		return out, r.err
	}
	for len(in) > 0 {
		if r.done && r.remain == 0 {
			return append(out, in...), nil
		}
		if r.remain == 0 {
			n := copy(r.hdr[r.hdrLen:r.from], in)
			r.hdrLen += n
			in = in[n:]
			if r.hdrLen < r.from {
				return out, nil
			}
			var size int
			if r.from == 2 {
				size = int(binary.BigEndian.Uint16(r.hdr[:]))
			} else {
				size = int(binary.BigEndian.Uint32(r.hdr[:]))
			}
			if r.to == 2 && size > 0xffff {
				r.err = ErrTooLong{Len: size}
				return out, r.err
			}
			if r.to == 2 {
				out = binary.BigEndian.AppendUint16(out, uint16(size))
			} else {
				out = binary.BigEndian.AppendUint32(out, uint32(size))
			}
			r.hdrLen, r.remain, r.tagNext = 0, size, true
			if size == 0 {
				r.tagNext = false
			}
			continue
		}
		if r.tagNext {
			if in[0] == r.last {
				r.done = true // this message is the last reframed one
			}
			r.tagNext = false
		}
		n := min(len(in), r.remain)
		out = append(out, in[:n]...)
		in = in[n:]
		r.remain -= n
	}
	return out, nil
}
