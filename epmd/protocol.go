package epmd

import (
	"encoding/binary"
	"errors"
)

// Request command bytes of the classic protocol (OTP's epmd.h).
const (
	cmdAlive2     = 'x' // 2B port, 1B type, 1B proto, 2B high, 2B low, 2B nlen, name, 2B elen, extra
	cmdPortPlease = 'z' // name (one trailing NUL tolerated)
	cmdNames      = 'n' // no body
	cmdDump       = 'd' // no body; local peers only
	cmdKill       = 'k' // no body; local peers only
	cmdStop       = 's' // name; local peers only, relaxed mode only
)

// Reply codes of the classic protocol.
const (
	respAlive2  = 'y' // 1B result, 2B creation (HighVsn < 6)
	respAlive2X = 'v' // 1B result, 4B creation (HighVsn >= 6)
	respPort2   = 'w' // 1B result; when 0: 2B port, 1B type, 1B proto, 2B high, 2B low, 2B nlen, name, 2B elen, extra
)

// Limits of the classic protocol, as OTP's epmd enforces them.
const (
	// MaxSymLen is the longest node name or extra field in bytes
	// (MAXSYMLEN: 255 code points of at most 4 bytes).
	MaxSymLen = 255 * 4
	// MaxNameChars is the longest node name in code points.
	MaxNameChars = 255
	// MaxRequestLen is the longest accepted request (INBUF_SIZE - 3).
	// A declared length of 0 or above it closes the connection.
	MaxRequestLen = 3*MaxSymLen - 3
	// readBufLen is the size epmd reads into before it knows the length:
	// INBUF_SIZE - 1 bytes.
	readBufLen = 3*MaxSymLen - 1
	// MaxUnregistered is how many unregistered names are remembered so that
	// a node registering the same name again gets the next creation.
	MaxUnregistered = 1000
	// aliveErrorCreation is the creation field of a refused ALIVE2.
	aliveErrorCreation = 99
)

// DefaultPort is the well-known EPMD port.
const DefaultPort = 4369

// Node types an ALIVE2 request may carry.
const (
	NodeTypeNormal = 77 // 'M', a normal Erlang node
	NodeTypeHidden = 72 // 'H', a hidden node (C node, erl_call)
)

// errMalformed is wrapped by every parse error: OTP's epmd answers such a
// request with a silent close.
var errMalformed = errors.New("malformed request")

// ErrMalformed reports whether err came from parsing a request that OTP's
// epmd would drop with a silent close.
func ErrMalformed(err error) bool { return errors.Is(err, errMalformed) }

// FrameLen checks the 2-byte length prefix of a request. It returns the
// payload length, or ok=false when epmd would close the connection.
func FrameLen(hdr [2]byte) (n int, ok bool) {
	n = int(binary.BigEndian.Uint16(hdr[:]))
	return n, n >= 1 && n <= MaxRequestLen
}

// AppendFrame appends payload with its 2-byte length prefix.
func AppendFrame(b, payload []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}
