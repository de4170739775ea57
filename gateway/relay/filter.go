package relay

import (
	"sync"
)

// Filter decodes the distribution messages a relay copies toward the
// local node and decides on each (package distfilter's Conn is one). In
// is called with what is read from the remote side; Out and Boundary with
// what is about to be written to it.
type Filter interface {
	// In filters bytes read from the remote side: it returns what to
	// write to the local node, and packets to send back to the remote
	// side (replies to denied spawn requests), both valid until the next
	// call. An error ends the relay.
	In(p []byte) (out, replies [][]byte, err error)
	// Out follows bytes the local node sends to the remote side.
	Out(p []byte) error
	// Boundary returns how many bytes of p, the next ones to the remote
	// side, come before a point where a packet may be inserted: 0 now,
	// -1 not within p.
	Boundary(p []byte) int
}

// filtered is the remote side of a filtered relay.
type filtered struct {
	Stream
	f Filter

	// Read's state: output of the filter not yet returned.
	pend []byte
	pbuf []byte
	rerr error // the read error to return once pend is drained

	wmu   sync.Mutex // serializes writes to the stream; guards queue
	queue [][]byte   // replies waiting for a packet boundary
}

// Filtered returns s, the remote side of a relay, with what is read from
// it filtered by f, and f's replies written to it between the packets
// the relay writes. Reads of bytes that pass unchanged are not copied.
func Filtered(s Stream, f Filter) Stream {
	return &filtered{Stream: s, f: f}
}

func (s *filtered) Read(p []byte) (int, error) {
	for {
		if len(s.pend) > 0 {
			n := copy(p, s.pend)
			s.pend = s.pend[n:]
			return n, nil
		}
		if s.rerr != nil {
			// Returned once: a read deadline (the relay's idle check)
			// is not the end of the stream.
			err := s.rerr
			s.rerr = nil
			return 0, err
		}
		n, err := s.Stream.Read(p)
		if n == 0 {
			if err != nil {
				return 0, err
			}
			continue
		}
		out, replies, ferr := s.f.In(p[:n])
		if len(replies) > 0 {
			if werr := s.inject(replies); werr != nil {
				return 0, werr
			}
		}
		if ferr != nil {
			return 0, &FilterError{Err: ferr}
		}
		if len(out) == 1 && len(out[0]) > 0 && &out[0][0] == &p[0] {
			return len(out[0]), err // the common case: a prefix of p passes
		}
		s.pbuf = s.pbuf[:0]
		for _, o := range out {
			s.pbuf = append(s.pbuf, o...)
		}
		s.pend, s.rerr = s.pbuf, err
		if len(s.pend) == 0 && err == nil {
			continue // all held or dropped: read on
		}
	}
}

// inject writes replies to the remote side now if the local node's
// packets are at a boundary, else queues them for the next one.
func (s *filtered) inject(replies [][]byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, r := range replies {
		s.queue = append(s.queue, append([]byte(nil), r...))
	}
	if s.f.Boundary(nil) == 0 {
		return s.flushLocked()
	}
	return nil
}

func (s *filtered) flushLocked() error {
	for len(s.queue) > 0 {
		if _, err := s.Stream.Write(s.queue[0]); err != nil {
			return err
		}
		s.queue[0] = nil
		s.queue = s.queue[1:]
	}
	return nil
}

// Write writes what the local node sends, with queued replies inserted at
// the first packet boundary.
func (s *filtered) Write(b []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	written := 0
	for len(s.queue) > 0 {
		k := s.f.Boundary(b)
		if k < 0 {
			break
		}
		if k > 0 {
			n, err := s.writeLocked(b[:k])
			written += n
			if err != nil {
				return written, err
			}
			b = b[k:]
		}
		if err := s.flushLocked(); err != nil {
			return written, err
		}
	}
	if len(b) == 0 {
		return written, nil
	}
	n, err := s.writeLocked(b)
	return written + n, err
}

func (s *filtered) writeLocked(b []byte) (int, error) {
	if err := s.f.Out(b); err != nil {
		return 0, err
	}
	return s.Stream.Write(b)
}

// FilterError is returned by the reads of a filtered stream whose filter
// ended the connection: its policy closed it, or the stream is one the
// receiving node would refuse.
type FilterError struct{ Err error }

func (e *FilterError) Error() string { return e.Err.Error() }

// Unwrap returns the filter's error.
func (e *FilterError) Unwrap() error { return e.Err }
