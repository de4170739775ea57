package distfilter

import (
	"encoding/binary"
	"sync"
)

// Action is what a policy decides for a message.
type Action uint8

// Actions. The zero value denies.
const (
	Deny  Action = 0 // drop the message; a spawn request is answered with an error
	Allow Action = 1 // pass it
	Close Action = 2 // close the connection
)

// String returns "allow", "deny" or "close".
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Close:
		return "close"
	}
	return "deny"
}

// Verdict is a decision on a message, or on a connection.
type Verdict struct {
	Action Action
	// Unfiltered, on a connection (Decider.Connect) that is allowed,
	// passes the rest of it without decoding it.
	Unfiltered bool
	Reason     string
}

// Peers are the two nodes of a filtered connection, as their handshake
// told: Remote sends what the filter decodes, Local receives it.
type Peers struct {
	Local, Remote Node
	// Flags are the connection's distribution flags (both nodes'
	// and'ed).
	Flags uint64
}

// Decider decides on what a filter decodes. It is called on the
// goroutine that reads the remote side: a slow decision slows the
// connection, and nothing else.
type Decider interface {
	// Connect is asked once the handshake is over, before any message.
	Connect(p *Peers) Verdict
	// Decide is asked for each message. m is valid during the call only.
	Decide(m *Message) Verdict
}

// Limits bound what one connection's filter holds. Zero values are the
// defaults.
type Limits struct {
	// MaxHold bounds the bytes of a packet's start held until it can be
	// decided: its header and control message must fit (else the
	// connection is closed), and the part of the payload read for a call.
	MaxHold int
	// MaxCallBytes bounds the payload read for the call a message carries;
	// a call beyond it is Unknown.
	MaxCallBytes int
	// MaxSequences bounds the fragmented messages in flight.
	MaxSequences int
}

// Defaults of Limits.
const (
	DefaultMaxHold      = 1 << 20
	DefaultMaxCallBytes = 64 << 10
	DefaultMaxSequences = 4096
)

// Config describes one filtered connection.
type Config struct {
	// LocalDialled says whether the local node dialled the connection (a
	// caller on a proxy port) or accepted it (reached over a link or a
	// TLS port).
	LocalDialled bool
	// InPrefix and OutPrefix are the handshake's length prefix sizes (2
	// for TCP distribution, 4 for TLS distribution) of the bytes In and
	// Out see.
	InPrefix, OutPrefix int
	Decider             Decider
	Limits              Limits
	// SpawnReason is the reason of the reply to a denied spawn request;
	// SpawnDenied when empty.
	SpawnReason string
}

// Conn filters one relayed connection: In decodes what the remote side
// sends toward the local node and passes, drops or replaces each message
// as the Decider says; Out follows what the local node sends back, so
// that a reply to a denied spawn request goes between two of its packets.
// In and Out may run on two goroutines; each is called by one at a time.
// It is pure: it takes bytes and returns bytes.
type Conn struct {
	cfg Config

	mu    sync.Mutex // guards the following: the handshake seen by Out
	hsOut hsObserver

	// In's state, touched only by In.
	hsIn      hsObserver
	state     inState
	headers   bool // the packets have distribution headers (else pass-through)
	modeKnown bool
	lenBuf    [4]byte
	lenN      int
	plen      int    // the current packet's length
	remain    int    // its bytes still to pass or skip
	held      []byte // its start, length included, while it is held
	nextTry   int    // held length at which to try decoding again
	hdr       header
	hdrDone   bool // hdr parsed and applied for the current packet
	cache     atomCache
	table     atomTable
	msg       Message
	seqs      map[uint64]bool // fragmented messages in flight: dropped?
	out       [][]byte
	replies   [][]byte
	built     []byte // packets the filter writes: replacements, replies
	stats     Stats

	// Out's state, touched only by Out and Boundary.
	track frameTracker
}

// Stats counts what a filter did.
type Stats struct {
	Messages uint64 // messages decoded (a fragmented one once)
	Allowed  uint64
	Denied   uint64
	Replaced uint64 // denied messages replaced to keep the atom cache
	Replies  uint64 // spawn replies sent for denied spawn requests
}

type inState uint8

const (
	inHandshake inState = iota // the handshake: bytes pass, the observer reads them
	inOff                      // not filtered: bytes pass
	inLen                      // a packet's length
	inHold                     // a packet's start, held until decided
	inPass                     // the rest of a packet passes
	inSkip                     // the rest of a packet is dropped
	inFailed                   // an error: nothing more
)

// New returns the filter of one connection.
func New(cfg Config) *Conn {
	if cfg.Limits.MaxHold <= 0 {
		cfg.Limits.MaxHold = DefaultMaxHold
	}
	if cfg.Limits.MaxCallBytes <= 0 {
		cfg.Limits.MaxCallBytes = DefaultMaxCallBytes
	}
	if cfg.Limits.MaxSequences <= 0 {
		cfg.Limits.MaxSequences = DefaultMaxSequences
	}
	if cfg.SpawnReason == "" {
		cfg.SpawnReason = SpawnDenied
	}
	if cfg.InPrefix != 4 {
		cfg.InPrefix = 2
	}
	if cfg.OutPrefix != 4 {
		cfg.OutPrefix = 2
	}
	c := &Conn{cfg: cfg}
	// In carries what the remote node sends: it dialled when the local
	// node did not.
	c.hsIn = newObserver(cfg.InPrefix, !cfg.LocalDialled)
	c.hsOut = newObserver(cfg.OutPrefix, cfg.LocalDialled)
	return c
}

// Stats returns the counts so far; call it from In's goroutine, or after.
func (c *Conn) Stats() Stats { return c.stats }

// CloseError is returned by In when the Decider closes the connection.
type CloseError struct {
	Message string // the message's operation ("spawn_request"), or "connect"
	Reason  string
}

func (e *CloseError) Error() string {
	s := "distfilter: connection closed by the filter policy on " + e.Message
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// In filters p, read from the remote side. It returns the bytes to write
// to the local node, in order, and packets to write back to the remote
// side (replies to denied spawn requests). Both are valid until the next
// call. An error closes the connection: a stream the receiving node would
// refuse (*BadError), a limit, or the Decider (*CloseError); In fails for
// ever after.
func (c *Conn) In(p []byte) (out, replies [][]byte, err error) {
	c.out, c.replies, c.built = c.out[:0], c.replies[:0], c.built[:0]
	if c.state == inFailed {
		return nil, nil, bad("filter failed")
	}
	if err := c.in(p); err != nil {
		c.state = inFailed
		return nil, nil, err
	}
	return c.out, c.replies, nil
}

func (c *Conn) in(p []byte) error {
	for len(p) > 0 {
		switch c.state {
		case inHandshake:
			n, err := c.hsIn.feed(p)
			if err != nil {
				return err
			}
			c.emit(p[:n])
			p = p[n:]
			if c.hsIn.done {
				if err := c.connect(); err != nil {
					return err
				}
			}
		case inOff:
			c.emit(p)
			p = nil
		case inLen:
			if c.lenN == 0 && len(p) >= 4 {
				// The common case: the length, and often the whole
				// packet, in p.
				n, err := c.packet(p)
				if err != nil {
					return err
				}
				p = p[n:]
				continue
			}
			k := copy(c.lenBuf[c.lenN:], p)
			c.lenN += k
			p = p[k:]
			if c.lenN == 4 {
				c.lenN = 0
				c.held = append(c.held[:0], c.lenBuf[:]...)
				if err := c.startPacket(); err != nil {
					return err
				}
			}
		case inHold:
			need := min(4+c.plen, c.cfg.Limits.MaxHold+4) - len(c.held)
			k := min(need, len(p))
			c.held = append(c.held, p[:k]...)
			p = p[k:]
			if len(c.held) < c.nextTry && k < need {
				continue
			}
			if err := c.decideHeld(); err != nil {
				return err
			}
		case inPass:
			k := min(c.remain, len(p))
			c.emit(p[:k])
			c.remain -= k
			p = p[k:]
			if c.remain == 0 {
				c.state = inLen
			}
		case inSkip:
			k := min(c.remain, len(p))
			c.remain -= k
			p = p[k:]
			if c.remain == 0 {
				c.state = inLen
			}
		}
	}
	return nil
}

// emit appends b to what In returns, joining it to the last piece when
// they are contiguous.
func (c *Conn) emit(b []byte) {
	if len(b) == 0 {
		return
	}
	if n := len(c.out); n > 0 {
		last := c.out[n-1]
		if cap(last) > len(last) && &last[:len(last)+1][len(last)] == &b[0] {
			c.out[n-1] = last[:len(last)+len(b)]
			return
		}
	}
	c.out = append(c.out, b)
}

// connect asks the Decider about the connection once the handshake is
// over.
func (c *Conn) connect() error {
	c.mu.Lock()
	peers := Peers{Remote: c.hsIn.node, Local: c.hsOut.node}
	c.mu.Unlock()
	peers.Flags = peers.Remote.Flags & peers.Local.Flags
	v := c.cfg.Decider.Connect(&peers)
	switch {
	case v.Action == Close || v.Action == Deny:
		return &CloseError{Message: OpConnect.String(), Reason: v.Reason}
	case v.Unfiltered:
		c.state = inOff
	default:
		c.state = inLen
	}
	return nil
}

// packet handles a packet whose length starts p: it decides it from p
// when p holds enough of it, or starts holding it. It returns the bytes
// of p it used.
func (c *Conn) packet(p []byte) (int, error) {
	c.plen = int(binary.BigEndian.Uint32(p))
	if c.plen == 0 { // a tick
		c.emit(p[:4])
		return 4, nil
	}
	c.hdrDone = false
	avail := p[4:min(len(p), 4+c.plen)]
	if len(avail) > c.cfg.Limits.MaxHold {
		avail = avail[:c.cfg.Limits.MaxHold]
	}
	complete := len(avail) == c.plen || len(avail) == c.cfg.Limits.MaxHold
	d, ok, err := c.decode(avail, complete)
	if err != nil {
		return 0, err
	}
	if !ok {
		// Not enough: hold what is here.
		c.held = append(c.held[:0], p[:4+len(avail)]...)
		c.state = inHold
		c.nextTry = 2 * len(c.held)
		return 4 + len(avail), nil
	}
	c.finish(d, p[:4+len(avail)], false)
	return 4 + len(avail), nil
}

// startPacket starts holding a packet whose length is in c.held.
func (c *Conn) startPacket() error {
	c.plen = int(binary.BigEndian.Uint32(c.held))
	if c.plen == 0 { // a tick
		c.emitCopy(c.held)
		return nil
	}
	c.hdrDone = false
	c.state = inHold
	c.nextTry = 0
	return nil
}

// decideHeld tries to decide the held packet.
func (c *Conn) decideHeld() error {
	avail := c.held[4:]
	complete := len(avail) == c.plen || len(avail) >= c.cfg.Limits.MaxHold
	d, ok, err := c.decode(avail, complete)
	if err != nil {
		return err
	}
	if !ok {
		c.nextTry = 2 * len(c.held)
		return nil
	}
	c.finish(d, c.held, true)
	return nil
}

// emitCopy emits a copy of b: held bytes are reused by the next packet
// within the same call.
func (c *Conn) emitCopy(b []byte) {
	at := len(c.built)
	c.built = append(c.built, b...)
	c.emit(c.built[at:])
}

// decision is what to do with a decoded packet.
type decision struct {
	pass  bool
	drop  bool // drop: replaced when its header defines cache entries
	reply bool // a denied spawn request: reply
}

// decode decodes the start of a packet (after its length) and decides
// it. ok is false when more bytes are needed and can come.
func (c *Conn) decode(b []byte, complete bool) (d decision, ok bool, err error) {
	if !c.hdrDone {
		if !c.modeKnown && len(b) > 0 {
			// The receiving node accepts headers or the pass-through
			// byte, as the connection's flags say: the first packet
			// shows which, and the others must agree.
			c.headers, c.modeKnown = b[0] != passThrough, true
		}
		h, err := parseHeader(b, c.headers, complete, &c.cache)
		if err == errShort {
			return d, false, nil
		}
		if err != nil {
			return d, false, err
		}
		h.apply(b, &c.cache, &c.table)
		c.hdr, c.hdrDone = h, true
	}
	h := &c.hdr
	if h.kind == hdrFragmentCnt {
		return c.continuation(h)
	}
	m := &c.msg
	m.reset()
	r := reader{b: b[h.end:], atoms: &c.table, complete: complete}
	if h.kind == passThrough {
		r.atoms = nil
	}
	if err := decodeControl(&r, m); err != nil {
		if err == errShort {
			return d, false, nil
		}
		return d, false, err
	}
	if needsPayload(m) {
		payload := r.b[r.off:]
		if h.kind == passThrough {
			// The payload is an external term of its own: 131 first.
			if len(payload) > 0 && payload[0] != versionMagic {
				return d, false, bad("pass-through payload without 131")
			}
			if len(payload) > 0 {
				payload = payload[1:]
			}
		}
		full := complete
		if len(payload) > c.cfg.Limits.MaxCallBytes {
			payload, full = payload[:c.cfg.Limits.MaxCallBytes], true
		}
		pr := reader{b: payload, atoms: r.atoms, complete: full}
		if err := decodeCall(&pr, m); err != nil {
			if err == errShort {
				return d, false, nil
			}
			// The call's shape could not be read within the limits, or
			// is malformed (the node will refuse the payload itself).
			m.Call.Unknown = true
		}
	}
	if h.kind == hdrFragment && h.frag > 1 {
		if c.seqs == nil {
			c.seqs = make(map[uint64]bool)
		}
		if _, dup := c.seqs[h.seq]; dup {
			return d, false, bad("fragment sequence started twice")
		}
		if len(c.seqs) >= c.cfg.Limits.MaxSequences {
			return d, false, bad("too many fragmented messages in flight")
		}
	}
	c.stats.Messages++
	v := c.cfg.Decider.Decide(m)
	switch v.Action {
	case Allow:
		c.stats.Allowed++
		d.pass = true
	case Close:
		return d, false, &CloseError{Message: m.Op.String(), Reason: v.Reason}
	default:
		c.stats.Denied++
		d.drop = true
		d.reply = m.Op == OpSpawnRequest
	}
	if h.kind == hdrFragment && h.frag > 1 {
		c.seqs[h.seq] = d.drop
	}
	return d, true, nil
}

// continuation decides a fragment after the first: as its sequence's
// first fragment was.
func (c *Conn) continuation(h *header) (decision, bool, error) {
	dropped, ok := c.seqs[h.seq]
	if !ok {
		return decision{}, false, bad("fragment of an unknown sequence")
	}
	if h.frag == 1 {
		delete(c.seqs, h.seq)
	}
	return decision{pass: !dropped, drop: dropped}, true, nil
}

// finish acts on a decision for the packet whose start (length included)
// is p: it passes p and the rest of the packet, or drops them. held says
// that p is the held buffer, which is copied before it is emitted.
func (c *Conn) finish(d decision, p []byte, held bool) {
	rest := 4 + c.plen - len(p)
	switch {
	case d.pass && held:
		c.emitCopy(p)
		c.remain, c.state = rest, inPass
	case d.pass:
		c.emit(p)
		c.remain, c.state = rest, inPass
	default:
		if c.hdr.defs && c.hdr.kind != hdrFragmentCnt {
			// Its header defines atom cache entries later messages
			// may use: the node must still see them.
			at := len(c.built)
			c.built = appendDropPacket(c.built, p[4:], &c.hdr)
			c.emit(c.built[at:])
			c.stats.Replaced++
		}
		if d.reply {
			at := len(c.built)
			c.built = appendSpawnReply(c.built, &c.msg, c.headers, c.cfg.SpawnReason)
			c.replies = append(c.replies, c.built[at:])
			c.stats.Replies++
		}
		c.remain, c.state = rest, inSkip
	}
	if c.remain == 0 {
		c.state = inLen
	}
}
