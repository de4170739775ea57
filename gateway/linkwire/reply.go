package linkwire

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// Status is the first byte of a reply.
type Status byte

// Reply statuses.
const (
	StatusOK          Status = 0 // connected: bytes follow
	StatusDenied      Status = 1 // the policy refuses the caller
	StatusNotFound    Status = 2 // no such node behind this gateway
	StatusUnreachable Status = 3 // the node did not accept the connection
	StatusBadRequest  Status = 4 // the header was malformed, or its kind is not served
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusDenied:
		return "denied"
	case StatusNotFound:
		return "not found"
	case StatusUnreachable:
		return "unreachable"
	case StatusBadRequest:
		return "bad request"
	}
	return "status " + strconv.Itoa(int(s))
}

// replyPrelude is the fixed part of a reply: status, length.
const replyPrelude = 3

// Error is a refusal from the peer gateway: a reply other than StatusOK.
type Error struct {
	Status  Status
	Message string
}

// Error describes the refusal.
func (e *Error) Error() string {
	return "peer gateway: " + e.Status.String() + ": " + e.Message
}

// AppendReply appends a reply; a message over MaxHeaderLen bytes is cut.
func AppendReply(b []byte, s Status, msg string) []byte {
	if len(msg) > MaxHeaderLen {
		msg = msg[:MaxHeaderLen]
	}
	b = append(b, byte(s))
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

// Reply is a parsed reply.
type Reply struct {
	Status  Status
	Message string
}

// Err returns nil for StatusOK, else the refusal as an *Error.
func (r Reply) Err() error {
	if r.Status == StatusOK {
		return nil
	}
	return &Error{Status: r.Status, Message: r.Message}
}

// ParseReply parses the reply b starts with and returns it with the
// number of bytes it took. A b too short for the whole reply returns
// io.ErrUnexpectedEOF.
func ParseReply(b []byte) (Reply, int, error) {
	if len(b) < replyPrelude {
		return Reply{}, 0, fmt.Errorf("link reply: %w", io.ErrUnexpectedEOF)
	}
	n := replyPrelude + int(binary.BigEndian.Uint16(b[1:]))
	if len(b) < n {
		return Reply{}, 0, fmt.Errorf("link reply: %w", io.ErrUnexpectedEOF)
	}
	return Reply{Status: Status(b[0]), Message: string(b[replyPrelude:n])}, n, nil
}

// ReadReply reads a reply: nil for StatusOK, an *Error for a refusal, or
// the error that kept it from being read.
func ReadReply(r io.Reader) error {
	var pre [replyPrelude]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return fmt.Errorf("link reply: %w", err)
	}
	msg := make([]byte, binary.BigEndian.Uint16(pre[1:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return fmt.Errorf("link reply: %w", err)
	}
	return Reply{Status: Status(pre[0]), Message: string(msg)}.Err()
}
