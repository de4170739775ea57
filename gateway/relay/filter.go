package relay

import (
	"fmt"
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

// maxPendingReplies bounds the bytes of filter replies waiting for the
// remote side (a denied spawn request's reply is some hundred bytes), each
// counted with replyOverhead for its slice and allocation: a peer that
// sends requests to deny and reads nothing has its relay closed before it
// is passed (ErrReplyBacklog), rather than the replies held without bound.
const maxPendingReplies = 256 << 10

// replyOverhead is what a queued reply costs besides its bytes.
const replyOverhead = 64

// ErrReplyBacklog is the Err of the FilterError that ends a filtered relay
// whose filter replies would pass maxPendingReplies waiting to be written
// to the remote side: it sends requests the filter denies and reads
// neither their replies nor anything else, or the local node stalls in the
// middle of a packet (replies go out at packet boundaries only).
var ErrReplyBacklog = fmt.Errorf("relay: more than %d bytes of filter replies wait to be written to the remote side", maxPendingReplies)

// filtered is the remote side of a filtered relay.
//
// Its two directions never wait on each other. The reader (the relay's
// remote-to-local direction) queues the filter's replies and reads on;
// they are written by the writer (the local-to-remote direction), at the
// first packet boundary of what it writes, or, when it is idle, by a
// flusher goroutine started with the first reply. Only they write to the
// stream, under wmu: a writer blocked on a remote side that reads nothing
// holds back the replies, never the bytes toward the local node. Were the
// reader to write the replies itself, or wait for wmu, two gateways that
// filter both ends of a link would hold each other as soon as both links
// filled (each writer blocked on the link the other's reader no longer
// reads): TestFilteredBothWays.
type filtered struct {
	Stream
	f Filter

	// Read's state: output of the filter not yet returned.
	pend []byte
	pbuf []byte
	rerr error // the read error to return once pend is drained

	kick     chan struct{} // a reply is queued: wakes the flusher
	stop     chan struct{} // closed when the stream ends: the flusher returns
	stopOnce sync.Once
	done     chan struct{} // closed when the flusher has returned

	wmu     sync.Mutex // serializes writes to the stream; guards wclosed
	wclosed bool       // CloseWrite was called: nothing more is written

	qmu      sync.Mutex // guards the following; never held across I/O
	queue    [][]byte   // replies waiting for a packet boundary
	queued   int        // their bytes
	flushing bool       // the flusher was started
	ended    bool       // the stream ended: no flusher starts
	werr     error      // the flusher's write failed: the stream is aborted
}

// Filtered returns s, the remote side of a relay, with what is read from
// it filtered by f, and f's replies written to it between the packets
// the relay writes. Reads of bytes that pass unchanged are not copied.
// The goroutine that writes replies while the relay writes nothing ends
// with the stream: CloseWrite, Abort or Close, which wait for it.
func Filtered(s Stream, f Filter) Stream {
	return &filtered{Stream: s, f: f, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
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
				if werr := s.writeErr(); werr != nil {
					return 0, werr // why the flusher aborted the stream
				}
				return 0, err
			}
			continue
		}
		out, replies, ferr := s.f.In(p[:n])
		if len(replies) > 0 {
			if qerr := s.queueReplies(replies); qerr != nil {
				return 0, qerr
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

// queueReplies queues replies (copies: the filter's are valid until its
// next call) for the writer or the flusher, and wakes the flusher,
// starting it with the first reply. It fails past maxPendingReplies, or
// once the flusher failed.
func (s *filtered) queueReplies(replies [][]byte) error {
	s.qmu.Lock()
	if s.werr != nil {
		err := s.werr
		s.qmu.Unlock()
		return err
	}
	for _, r := range replies {
		if s.queued+len(r)+replyOverhead > maxPendingReplies {
			s.qmu.Unlock()
			return &FilterError{Err: ErrReplyBacklog}
		}
		s.queued += len(r) + replyOverhead
		s.queue = append(s.queue, append([]byte(nil), r...))
	}
	start := !s.flushing && !s.ended
	s.flushing = s.flushing || start
	s.qmu.Unlock()
	if start {
		go s.flusher()
	}
	select {
	case s.kick <- struct{}{}:
	default: // the flusher has a wake-up pending
	}
	return nil
}

// flusher writes the queued replies when the local node's packets are at
// a boundary, the writer being idle; it returns when the stream ends (or
// a write fails: it aborts the stream, and the reader returns why).
func (s *filtered) flusher() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		s.wmu.Lock()
		var err error
		if !s.wclosed && s.f.Boundary(nil) == 0 {
			err = s.flushLocked()
		}
		s.wmu.Unlock()
		if err != nil {
			s.qmu.Lock()
			s.werr = err
			s.qmu.Unlock()
			s.Stream.Abort()
			return
		}
	}
}

// pending reports whether replies are queued.
func (s *filtered) pending() bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue) > 0
}

// writeErr is the flusher's write error, if it failed.
func (s *filtered) writeErr() error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.werr
}

// flushLocked writes the queued replies; wmu is held.
func (s *filtered) flushLocked() error {
	for {
		s.qmu.Lock()
		if len(s.queue) == 0 {
			s.qmu.Unlock()
			return nil
		}
		r := s.queue[0] // only a holder of wmu takes from the queue
		s.qmu.Unlock()
		if _, err := s.Stream.Write(r); err != nil {
			return err
		}
		s.qmu.Lock()
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.queued -= len(r) + replyOverhead
		s.qmu.Unlock()
	}
}

// Write writes what the local node sends, with queued replies inserted at
// the first packet boundary.
func (s *filtered) Write(b []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	written := 0
	for s.pending() {
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

// CloseWrite writes the replies queued, if the local node's packets are
// at a boundary, then ends the sending half; the flusher stops.
func (s *filtered) CloseWrite() error {
	s.wmu.Lock()
	var err error
	if s.f.Boundary(nil) == 0 {
		err = s.flushLocked()
	}
	s.wclosed = true
	if cerr := s.Stream.CloseWrite(); err == nil {
		err = cerr
	}
	s.wmu.Unlock()
	s.stopFlusher()
	return err
}

// Abort aborts the stream, which ends a write of the flusher in
// progress, and waits for the flusher.
func (s *filtered) Abort() {
	s.Stream.Abort()
	s.stopFlusher()
}

// Close closes the stream, which ends a write of the flusher in progress,
// and then stops the flusher, as Abort does: a flusher blocked writing to
// a remote side that reads nothing cannot hold Close.
func (s *filtered) Close() error {
	err := s.Stream.Close()
	s.stopFlusher()
	return err
}

// stopFlusher stops the flusher, if it was started, and waits for it.
func (s *filtered) stopFlusher() {
	s.qmu.Lock()
	started := s.flushing
	s.ended = true
	s.qmu.Unlock()
	s.stopOnce.Do(func() { close(s.stop) })
	if started {
		<-s.done
	}
}

// FilterError is returned by the reads of a filtered stream whose filter
// ended the connection: its policy closed it, or the stream is one the
// receiving node would refuse.
type FilterError struct{ Err error }

func (e *FilterError) Error() string { return e.Err.Error() }

// Unwrap returns the filter's error.
func (e *FilterError) Unwrap() error { return e.Err }
