package epmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config configures a Server. The zero value is OTP's default behaviour.
type Config struct {
	// Port is the port the daemon reports in NAMES and DUMP replies; it
	// should be the port it listens on. DefaultPort when zero.
	Port int
	// Relaxed allows KILL with nodes registered and STOP
	// (-relaxed_command_check).
	Relaxed bool
	// PacketTimeout closes connections that have sent no byte for this
	// long, except registrations; 60 s when zero. It counts as OTP's
	// epmd -packet_timeout does (see idleDeadline): in whole seconds, and
	// the close comes at epmd's next select() wake-up past it, 1 s later
	// for 1..4 s, at the next multiple of 5 s from 5 s up.
	PacketTimeout time.Duration
	// DelayAccept and DelayWrite simulate a busy server, as epmd's
	// -delay_accept and -delay_write do.
	DelayAccept, DelayWrite time.Duration
	// MaxUnregistered is how many unregistered names are remembered
	// (MaxUnregistered when zero).
	MaxUnregistered int
	// HostNames are the host parts that mean this host in full-name
	// lookups, compared without case. IP literals of this host and
	// "localhost" always match. Empty: the system host name.
	HostNames []string
	// Resolver decides full-name lookups and PORT_PLEASE2 for names not
	// registered here. LocalResolver when nil.
	Resolver Resolver
	// NonLocal, when set, is asked about NAMES_X and LOOKUP_X from peers
	// that are not this host; nil answers them as for this host. Classic
	// requests are answered as OTP's epmd answers them.
	NonLocal NonLocalPolicy
	// Logger receives debug and error messages; nothing is logged when nil.
	Logger *slog.Logger
	// OnKill is called after a KILL request was granted and answered; the
	// server has stopped accepting by then. epmd exits 0 here.
	OnKill func()
	// NoKill refuses every KILL ("NO", as epmd answers one with live nodes)
	// and logs it: the EPMD of a gateway, which carries links and relays,
	// stops with the gateway, not at the word of any local user.
	NoKill bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RequestTimeout, when set, bounds the whole request of a connection
	// from its accept, however slowly its bytes trickle in (PacketTimeout
	// is renewed by every byte, as OTP's epmd does).
	RequestTimeout time.Duration
	// PeerUID, when set, finds the user that owns a registering peer's
	// socket (ok false when it cannot); the registry keeps it with the
	// registration (Registry.Owner), so that a gateway can tell the node
	// that registered a name from another local process that claims it.
	PeerUID func(c net.Conn) (uid uint32, ok bool)
	// Claims, when set, is asked to claim each registration beyond this
	// host (the directory of a site of many hosts) before it is answered,
	// and told of its changes and its end. A refused claim is answered as
	// OTP's epmd answers a name registered twice.
	Claims Claims
	// Public, when set, makes this an internet-facing EPMD: it never
	// registers, dumps, kills or stops, whatever the peer's address, and
	// answers PORT_PLEASE2 and NAMES as Public decides.
	Public Public
}

// Claims carry this host's registrations beyond it (Config.Claims). Its
// methods are called without the server's locks held; Claim may take a
// network round trip, which the registering node waits for.
type Claims interface {
	// Claim is asked when a node has registered: an error refuses the
	// registration, which is then undone.
	Claim(n NodeInfo) error
	// Update is told when a registration changed (ADD_TRANSPORTS).
	Update(n NodeInfo)
	// Release is told when a claimed registration ended.
	Release(name string, creation uint32)
}

// Public is the policy of an internet-facing EPMD (Config.Public). The
// server refuses registrations, DUMP, KILL, STOP and the extension without
// a reply, and asks Public about everything else.
type Public interface {
	// Admit is asked when a connection arrives, before a byte is read; a
	// refusal (ok false) closes it at once (rate and concurrency limits).
	// Until its request is read, the policy may close c to make room for
	// other connections.
	Admit(peer netip.AddrPort, c net.Conn) (a Admission, ok bool)
	// PortPlease answers PORT_PLEASE2; nil answers "not found", exactly as
	// for a name that does not exist.
	PortPlease(ctx context.Context, peer netip.AddrPort, name string) *PortInfo
	// Names answers NAMES; ok false closes the connection without a reply.
	Names(ctx context.Context, peer netip.AddrPort) (names []NameEntry, ok bool)
	// Refused is told of each request refused outright, for the log.
	Refused(peer netip.AddrPort, what string)
}

// Admission is a connection Public admitted. The server calls
// Established once the connection's request is read, and Done when the
// connection ends.
type Admission interface {
	Established()
	Done()
}

// Server serves the EPMD protocol on any number of listeners.
type Server struct {
	cfg      Config
	log      *slog.Logger
	resolver Resolver
	hosts    map[string]bool
	hostName string // this host's name: the first of Config.HostNames, else the system's
	localIPs map[netip.Addr]bool
	bufs     sync.Pool
	requests requestCounts // by command, for the metrics

	nextID  atomic.Uint64
	wg      sync.WaitGroup
	workers workers // connection goroutines waiting for more (workers.go)

	regMu sync.RWMutex // guards reg
	reg   *Registry

	mu        sync.Mutex // guards the following
	listeners map[net.Listener]bool
	conns     map[uint64]net.Conn
	closed    bool
	killed    bool
	// refusedKill is when a refused KILL was last logged (Config.NoKill):
	// at most once a second, since any local user can send them.
	refusedKill time.Time
}

// NewServer returns a server with an empty registry.
func NewServer(cfg Config) *Server {
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.PacketTimeout <= 0 {
		cfg.PacketTimeout = 60 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		resolver:  cfg.Resolver,
		reg:       NewRegistry(cfg.MaxUnregistered),
		listeners: make(map[net.Listener]bool),
		conns:     make(map[uint64]net.Conn),
		workers:   newWorkers(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.resolver == nil {
		s.resolver = LocalResolver{}
	}
	s.bufs.New = func() any { return new([readBufLen]byte) }
	s.hosts, s.localIPs = localHostSet(cfg.HostNames)
	if len(cfg.HostNames) > 0 {
		s.hostName = cfg.HostNames[0]
	} else if h, err := os.Hostname(); err == nil {
		s.hostName = h
	}
	return s
}

// Serve accepts connections on ln until the server is closed or killed.
// It returns nil after Close, else the accept error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.listeners[ln] = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	// Accept a connection only once its first bytes are in: then most
	// lookups are answered by answerNow, and no handler waits in the poller.
	deferred := deferAccept(ln)

	var backoff time.Duration
	for {
		if s.cfg.DelayAccept > 0 {
			time.Sleep(s.cfg.DelayAccept)
		}
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			// Out of descriptors or a connection reset before accept:
			// back off and keep serving the connections we hold.
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) || isTimeout(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("epmd: accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("epmd: accept: %w", err)
		}
		backoff = 0
		if s.cfg.Public != nil {
			a, ok := s.cfg.Public.Admit(peerAddr(c), c)
			if !ok {
				c.Close()
				continue
			}
			c = &admittedConn{Conn: c, a: a}
		}
		if s.answerNow(c) {
			continue
		}
		id := s.nextID.Add(1)
		if !s.track(id, c) {
			c.Close()
			return nil
		}
		s.serveConn(id, c, deferred)
	}
}

// admittedConn tells the public policy when an admitted connection ends.
type admittedConn struct {
	net.Conn
	a    Admission
	once sync.Once
}

func (c *admittedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.a.Done)
	return err
}

// answerNow answers, on the accepting goroutine, a PORT_PLEASE2 whose
// whole frame is already in the socket buffer and whose answer needs no
// resolver, or a LOOKUP_X the resolver answers at once (answerLookupNow):
// a lookup then costs no goroutine, no deadline timer and no wait in the
// poller. It only peeks, so that when it declines (another request,
// a partial or oversized frame, bytes beyond the frame, a delay to
// simulate) handle reads the connection from its first byte, as before.
// The reply is at most 2+12+2*MaxSymLen bytes: it fits in the send buffer
// of a new socket, so the write does not block.
func (s *Server) answerNow(c net.Conn) bool {
	if s.cfg.Public != nil || s.cfg.DelayWrite > 0 {
		return false
	}
	var buf [peekLen]byte
	n := recvNow(c, buf[:], true)
	if n >= 3 && buf[2] == cmdLookupX {
		return s.answerLookupNow(c, buf[:n])
	}
	if n < 3 || buf[2] != cmdPortPlease {
		return false
	}
	if want, ok := FrameLen([2]byte{buf[0], buf[1]}); !ok || n != want+2 {
		return false
	}
	name, err := parsePortPlease2(buf[2:n])
	if err != nil {
		return false
	}
	p, decided := s.localPortPlease(name)
	if !decided {
		return false // the resolver may take its time: a handler asks it
	}
	recvNow(c, buf[:n], false) // consume what was peeked
	s.requests[cmdPortPlease].Add(1)
	if _, err := c.Write(appendPort2Reply(buf[:0], p)); err != nil {
		s.log.Debug("epmd: write reply", "err", err)
	}
	c.Close()
	return true
}

// pending reports whether c has bytes waiting to be read, without
// waiting or consuming them.
func pending(c net.Conn) bool {
	if a, ok := c.(*admittedConn); ok {
		c = a.Conn
	}
	var b [1]byte
	return recvNow(c, b[:], true) > 0
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(id uint64, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[id] = c
	return true
}

// Close stops every listener, closes every connection (unregistering every
// node) and waits for the connection handlers to end. It is idempotent.
func (s *Server) Close() error {
	s.stopListening()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.workers.stop()
	s.wg.Wait()
	return nil
}

func (s *Server) stopListening() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
}

// Registry calls f with the registry locked for reading.
func (s *Server) Registry(f func(*Registry)) {
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	f(s.reg)
}

// handle serves one connection: one request, or a registration for as
// long as the connection lives. deferred tells that its listener holds
// connections back until their first bytes come (deferAccept).
func (s *Server) handle(id uint64, c net.Conn, deferred bool) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, id)
		s.mu.Unlock()
		c.Close()
	}()
	// The packet timeout counts from the connection's accept by epmd,
	// which does not wait for bytes: a silent connection that the kernel
	// held back was connected one SYN-ACK timeout ago.
	start := s.cfg.Now()
	if deferred && !pending(c) {
		start = start.Add(-deferredSilence)
	}
	bp := s.bufs.Get().(*[readBufLen]byte)
	req, ok := s.readRequest(c, bp[:], start)
	if !ok {
		s.bufs.Put(bp)
		return
	}
	if a, ok := c.(*admittedConn); ok {
		a.a.Established()
	}
	s.dispatch(id, c, req, bp)
}

// readRequest reads one framed request the way OTP's epmd does: it reads
// what is there into a buffer of INBUF_SIZE-1 bytes, learns the length
// from the first two bytes, closes on a bad length or on more bytes than
// declared in the read that completed the header, and then reads exactly
// the rest. The packet timeout counts from start (the accept), then from
// every read, as epmd's mod_time does (idleDeadline).
func (s *Server) readRequest(c net.Conn, buf []byte, start time.Time) ([]byte, bool) {
	got, want := 0, 0
	var hard time.Time
	if s.cfg.RequestTimeout > 0 {
		hard = s.cfg.Now().Add(s.cfg.RequestTimeout)
	}
	last := start
	for {
		limit := len(buf)
		if want > 0 {
			limit = want
		}
		deadline := idleDeadline(last, s.cfg.PacketTimeout)
		if got == 0 && !deadline.IsZero() {
			// A deferred connection that looked silent at its accept may
			// have its first bytes in flight (the kernel hands it over as
			// they come): give them a moment before counting it silent.
			if soon := s.cfg.Now().Add(firstBytesGrace); deadline.Before(soon) {
				deadline = soon
			}
		}
		if !hard.IsZero() && (deadline.IsZero() || hard.Before(deadline)) {
			deadline = hard
		}
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf[got:limit])
		if n <= 0 || (err != nil && n == 0) {
			if err != nil && isTimeout(err) {
				// epmd closes only a connection with nothing to read: bytes
				// that came with the deadline are read, and closing with
				// them unread would reset the connection.
				if now := s.cfg.Now(); (hard.IsZero() || now.Before(hard)) && pending(c) {
					last = now
					continue
				}
				s.log.Debug("epmd: closing because timed out on receive", "peer", c.RemoteAddr())
			}
			return nil, false
		}
		last = s.cfg.Now()
		got += n
		if want == 0 && got >= 2 {
			n, ok := FrameLen([2]byte{buf[0], buf[1]})
			if !ok {
				s.log.Debug("epmd: invalid packet size", "size", n, "peer", c.RemoteAddr())
				return nil, false
			}
			want = n + 2
			if got > want {
				s.log.Debug("epmd: more bytes than the packet size", "got", got-2, "size", n, "peer", c.RemoteAddr())
				return nil, false
			}
		}
		if want > 0 && got == want {
			return buf[2:got], true
		}
	}
}

// reply writes b in one write, after the configured delay.
func (s *Server) reply(c net.Conn, b []byte) error {
	if s.cfg.DelayWrite > 0 {
		time.Sleep(s.cfg.DelayWrite)
	}
	c.SetWriteDeadline(s.cfg.Now().Add(s.cfg.PacketTimeout))
	_, err := c.Write(b)
	return err
}

func (s *Server) dispatch(id uint64, c net.Conn, req []byte, bp *[readBufLen]byte) {
	s.requests[req[0]].Add(1)
	if s.cfg.Public != nil {
		defer s.bufs.Put(bp)
		if out := s.dispatchPublic(c, req); out != nil {
			if err := s.reply(c, out); err != nil {
				s.log.Debug("epmd: write reply", "err", err)
			}
		}
		return
	}
	local := isLocalPeer(c)
	cmd := req[0]
	switch cmd {
	case cmdAlive2, cmdRegisterX:
		// Registrations keep the connection; the request buffer is not
		// needed past parsing.
		if !local {
			s.log.Debug("epmd: registration from a non-local address", "peer", c.RemoteAddr())
			if cmd == cmdRegisterX {
				s.reply(c, appendCreationReply(nil, respRegisterX, StatusDenied, 0, "registration is accepted from local peers only"))
			}
			s.bufs.Put(bp)
			return
		}
		if cmd == cmdAlive2 {
			s.alive2(id, c, req, bp)
		} else {
			s.registerX(id, c, req, bp)
		}
		return
	}
	defer s.bufs.Put(bp)
	var out []byte
	switch cmd {
	case cmdPortPlease:
		name, err := parsePortPlease2(req)
		if err != nil {
			s.log.Debug("epmd: port_please2", "err", err)
			return
		}
		out = appendPort2Reply(nil, s.portPlease(c, name))
	case cmdNames:
		s.regMu.RLock()
		out = s.reg.AppendNames(appendPortHeader(make([]byte, 0, 64+32*s.reg.Len()), s.cfg.Port))
		s.regMu.RUnlock()
	case cmdDump:
		if !local {
			s.log.Debug("epmd: dump from a non-local address", "peer", c.RemoteAddr())
			return
		}
		s.regMu.RLock()
		out = s.reg.AppendDump(appendPortHeader(make([]byte, 0, 64+80*s.reg.Len()), s.cfg.Port))
		s.regMu.RUnlock()
	case cmdKill:
		if !local {
			s.log.Debug("epmd: kill from a non-local address", "peer", c.RemoteAddr())
			return
		}
		s.kill(c)
		return
	case cmdStop:
		if !local || !s.cfg.Relaxed || len(req) <= 1 {
			s.log.Debug("epmd: stop refused", "peer", c.RemoteAddr(), "relaxed", s.cfg.Relaxed)
			return
		}
		out = s.stop(req[1:])
	case cmdLookupX:
		out = s.lookupX(c, req)
	case cmdNamesX:
		if len(req) < 2 || req[1] == 0 {
			out = appendExtReply(nil, respNamesX, StatusBadRequest, appendStringField(nil, tagMessage, "missing version byte"))
			break
		}
		s.regMu.RLock()
		nodes := s.reg.Nodes()
		s.regMu.RUnlock()
		if !local && s.cfg.NonLocal != nil {
			out = s.namesXNonLocal(c, nodes)
			break
		}
		out = appendNamesXReply(nil, nodes)
	default:
		s.log.Debug("epmd: got garbage", "cmd", cmd, "peer", c.RemoteAddr())
		return
	}
	if err := s.reply(c, out); err != nil {
		s.log.Debug("epmd: write reply", "err", err)
	}
}

// dispatchPublic serves one request of an internet-facing EPMD; nil
// closes without a reply.
func (s *Server) dispatchPublic(c net.Conn, req []byte) []byte {
	peer := peerAddr(c)
	pub := s.cfg.Public
	switch req[0] {
	case cmdPortPlease:
		name, err := parsePortPlease2(req)
		if err != nil {
			pub.Refused(peer, "malformed PORT_PLEASE2")
			return nil
		}
		return appendPort2Reply(nil, pub.PortPlease(context.Background(), peer, name))
	case cmdNames:
		names, ok := pub.Names(context.Background(), peer)
		if !ok {
			return nil
		}
		out := appendPortHeader(nil, s.cfg.Port)
		for _, n := range names {
			out = appendNamesLine(out, n.Name, uint16(n.Port))
		}
		return out
	case cmdAlive2, cmdRegisterX, cmdAddTranspts:
		pub.Refused(peer, "registration")
	case cmdDump:
		pub.Refused(peer, "DUMP")
	case cmdKill:
		pub.Refused(peer, "KILL")
	case cmdStop:
		pub.Refused(peer, "STOP")
	case cmdLookupX, cmdNamesX:
		pub.Refused(peer, "extension request (use the secure remote query port)")
	default:
		pub.Refused(peer, fmt.Sprintf("unknown command %d", req[0]))
	}
	return nil
}

// localPortPlease answers PORT_PLEASE2 from the registry. decided is
// false when the name is not registered here and the resolver is one that
// may know it (not LocalResolver), which must then be asked.
func (s *Server) localPortPlease(name string) (p *PortInfo, decided bool) {
	s.regMu.RLock()
	p = s.reg.PortPlease(name)
	_, registered := s.reg.nodes[name]
	s.regMu.RUnlock()
	_, local := s.resolver.(LocalResolver)
	return p, registered || local
}

// portPlease answers PORT_PLEASE2 from the registry, asking the resolver
// for names not registered here.
func (s *Server) portPlease(c net.Conn, name string) *PortInfo {
	if p, decided := s.localPortPlease(name); decided {
		return p
	}
	ans := s.resolver.Resolve(context.Background(), Query{
		Name: name, LocalHost: true, Peer: peerAddr(c), LocalPeer: isLocalPeer(c), ServerAddr: serverAddr(c), Classic: true,
	})
	if ans.Status != StatusOK {
		return nil
	}
	for _, ep := range ans.Endpoints {
		if ep.Family != FamilyLocal {
			return ep.portInfo(name, ep.NodeType)
		}
	}
	return nil
}

func (s *Server) stop(arg []byte) []byte {
	// OTP compares the name as a C string: up to the first NUL.
	name := string(arg)
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	s.regMu.Lock()
	owner, ok := s.reg.UnregisterName(name)
	s.regMu.Unlock()
	if !ok {
		return []byte("NOEXISTSTOPPED")
	}
	s.log.Debug("epmd: stopped", "name", name)
	s.mu.Lock()
	if oc, ok := s.conns[owner.ID]; ok {
		oc.Close()
	}
	s.mu.Unlock()
	return []byte("STOPPED")
}

func (s *Server) kill(c net.Conn) {
	s.regMu.RLock()
	n := s.reg.Len()
	s.regMu.RUnlock()
	if s.cfg.NoKill {
		now := s.cfg.Now()
		s.mu.Lock()
		logIt := now.Sub(s.refusedKill) >= time.Second
		if logIt {
			s.refusedKill = now
		}
		s.mu.Unlock()
		if logIt {
			s.log.Warn("epmd: KILL refused (epmd -kill): this EPMD stops with its gateway (SIGTERM), whose links and relays keep running", "peer", c.RemoteAddr().String(), "nodes", n)
		}
		s.reply(c, []byte("NO"))
		return
	}
	if !s.cfg.Relaxed && n > 0 {
		s.log.Debug("epmd: disallowed KILL_REQ, live nodes")
		s.reply(c, []byte("NO"))
		return
	}
	s.reply(c, []byte("OK"))
	c.Close()
	s.log.Debug("epmd: got KILL_REQ - terminates normal")
	s.mu.Lock()
	first := !s.killed
	s.killed = true
	s.mu.Unlock()
	s.stopListening()
	if first && s.cfg.OnKill != nil {
		go s.cfg.OnKill()
	}
}

// alive2 registers a classic node and then holds its connection.
func (s *Server) alive2(id uint64, c net.Conn, req []byte, bp *[readBufLen]byte) {
	a, err := parseAlive2(req)
	s.bufs.Put(bp)
	if err != nil {
		s.log.Debug("epmd: alive2", "err", err)
		return
	}
	reg := Registration{
		Name: a.Name, NodeType: a.NodeType,
		Transports: []Transport{{
			Proto: "inet_tcp", Port: a.Port, Family: FamilyInet,
			HighVsn: a.HighVsn, LowVsn: a.LowVsn, Extra: a.Extra, Protocol: a.Protocol,
		}},
	}
	if err := validateName(a.Name, a.Extra); err != nil {
		s.log.Debug("epmd: alive2 refused", "err", err)
		s.reply(c, appendAlive2Reply(nil, a.HighVsn, false, 0))
		s.holdUntilClosed(id, c)
		return
	}
	owner := s.owner(id, c)
	s.regMu.Lock()
	counter, err := s.reg.Register(reg, owner, s.cfg.Now().Unix())
	s.regMu.Unlock()
	if err == nil {
		if err = s.claim(id); err == nil && s.cfg.Claims != nil {
			defer s.cfg.Claims.Release(a.Name, counter)
		}
	}
	if err != nil {
		s.log.Debug("epmd: alive2 refused", "name", a.Name, "err", err)
		if s.reply(c, appendAlive2Reply(nil, a.HighVsn, false, 0)) == nil {
			s.holdUntilClosed(id, c)
		}
		return
	}
	if err := s.reply(c, appendAlive2Reply(nil, a.HighVsn, true, counter)); err != nil {
		s.log.Debug("epmd: failed to send ALIVE2_RESP", "name", a.Name, "err", err)
		s.unregister(id)
		return
	}
	s.log.Debug("epmd: registered", "name", a.Name, "port", a.Port, "creation", counter)
	s.holdUntilClosed(id, c)
	s.unregister(id)
}

// holdUntilClosed blocks until the peer closes the connection, errs, or
// sends any byte: each of these ends a classic registration.
func (s *Server) holdUntilClosed(id uint64, c net.Conn) {
	c.SetDeadline(time.Time{})
	var b [1]byte
	n, err := c.Read(b[:])
	if n > 0 {
		s.log.Debug("epmd: got more than expected on ALIVE socket", "peer", c.RemoteAddr())
	} else if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("epmd: error on ALIVE socket", "err", err)
	}
}

// claim asks Config.Claims to claim the registration of connection id;
// a refusal undoes it and is returned as ErrNameInUse.
func (s *Server) claim(id uint64) error {
	if s.cfg.Claims == nil {
		return nil
	}
	s.regMu.RLock()
	n, ok := s.reg.Node(id)
	s.regMu.RUnlock()
	if !ok {
		return nil
	}
	if err := s.cfg.Claims.Claim(n); err != nil {
		s.unregister(id)
		return fmt.Errorf("epmd: register %q: %w: %w", n.Name, ErrNameInUse, err)
	}
	return nil
}

func (s *Server) unregister(id uint64) {
	s.regMu.Lock()
	name, ok := s.reg.UnregisterOwner(id)
	s.regMu.Unlock()
	if ok {
		s.log.Debug("epmd: unregistered", "name", name)
	}
}

// registerX registers a node with several transports and then serves
// ADD_TRANSPORTS requests on the connection for as long as it lives.
func (s *Server) registerX(id uint64, c net.Conn, req []byte, bp *[readBufLen]byte) {
	defer s.bufs.Put(bp)
	fail := func(st Status, msg string) { s.reply(c, appendCreationReply(nil, respRegisterX, st, 0, msg)) }
	if len(req) < 2 || req[1] == 0 {
		fail(StatusBadRequest, "missing version byte")
		return
	}
	reg, err := parseRegister(req)
	if err != nil {
		fail(StatusBadRequest, err.Error())
		return
	}
	owner := s.owner(id, c)
	s.regMu.Lock()
	counter, err := s.reg.Register(reg, owner, s.cfg.Now().Unix())
	s.regMu.Unlock()
	if err == nil {
		if err = s.claim(id); err == nil && s.cfg.Claims != nil {
			defer s.cfg.Claims.Release(reg.Name, counter)
		}
	}
	switch {
	case errors.Is(err, ErrNameInUse):
		fail(StatusNameInUse, fmt.Sprintf("the name %s is registered by another node", reg.Name))
		return
	case err != nil:
		fail(StatusBadRequest, err.Error())
		return
	}
	defer s.unregister(id)
	if err := s.reply(c, appendCreationReply(nil, respRegisterX, StatusOK, counter, "")); err != nil {
		return
	}
	s.log.Debug("epmd: registered", "name", reg.Name, "transports", len(reg.Transports), "creation", counter)
	for {
		c.SetDeadline(time.Time{})
		req, ok := s.readRegistrationFrame(c, bp[:])
		if !ok {
			return
		}
		if req[0] != cmdAddTranspts || len(req) < 2 {
			s.log.Debug("epmd: unexpected request on a registration", "cmd", req[0], "name", reg.Name)
			return
		}
		ts, err := parseAddTransports(req)
		if err == nil {
			s.regMu.Lock()
			counter, err = s.reg.AddTransports(id, ts)
			s.regMu.Unlock()
		}
		st, msg := StatusOK, ""
		if err != nil {
			st, msg = StatusBadRequest, err.Error()
		} else if s.cfg.Claims != nil {
			s.regMu.RLock()
			n, ok := s.reg.Node(id)
			s.regMu.RUnlock()
			if ok {
				s.cfg.Claims.Update(n)
			}
		}
		if s.reply(c, appendCreationReply(nil, respAddTranspts, st, counter, msg)) != nil {
			return
		}
		c.SetWriteDeadline(time.Time{})
	}
}

// readRegistrationFrame reads one framed request on a registration
// connection, without a timeout.
func (s *Server) readRegistrationFrame(c net.Conn, buf []byte) ([]byte, bool) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, false
	}
	n, ok := FrameLen(hdr)
	if !ok {
		return nil, false
	}
	if _, err := io.ReadFull(c, buf[:n]); err != nil {
		return nil, false
	}
	return buf[:n], true
}

// lookupX answers a full-name lookup.
func (s *Server) lookupX(c net.Conn, req []byte) []byte {
	if len(req) < 2 || req[1] == 0 {
		return appendLookupReply(nil, StatusBadRequest, nil, "missing version byte")
	}
	q, err := parseLookup(req)
	if err != nil {
		return appendLookupReply(nil, StatusBadRequest, nil, err.Error())
	}
	query := s.lookupQuery(c, q)
	if !query.LocalPeer && s.cfg.NonLocal != nil && !s.cfg.NonLocal.MayList(context.Background(), query.Peer, q.Node, true) {
		return appendLookupReply(nil, StatusDenied, nil, "lookups by peers on other hosts are denied here")
	}
	ans := s.resolver.Resolve(context.Background(), query)
	eps := fillAddrs(ans.Endpoints, c)
	return appendLookupReply(nil, ans.Status, eps, ans.Message)
}

// namesXNonLocal answers NAMES_X to a peer that is not this host: the
// nodes Config.NonLocal lets it see, or a denial.
func (s *Server) namesXNonLocal(c net.Conn, nodes []NodeInfo) []byte {
	ctx, peer := context.Background(), peerAddr(c)
	if !s.cfg.NonLocal.MayList(ctx, peer, "", false) {
		return AppendNamesXRefusal(nil, StatusDenied, "listing by peers on other hosts is denied here")
	}
	shown := nodes[:0]
	for _, n := range nodes {
		if s.cfg.NonLocal.MayList(ctx, peer, JoinNode(n.Name, n.Host), false) {
			shown = append(shown, n)
		}
	}
	return appendNamesXReply(nil, shown)
}

// fillAddrs gives endpoints without an address the address the asker
// reached this server at, when the families agree.
func fillAddrs(eps []Endpoint, c net.Conn) []Endpoint {
	la := localAddr(c)
	out := make([]Endpoint, len(eps))
	for i, ep := range eps {
		if !ep.Addr.IsValid() && la.IsValid() {
			switch {
			case ep.Family == FamilyInet && la.Is4():
				ep.Addr = la
			case ep.Family == FamilyInet6 && la.Is6():
				ep.Addr = la
			case ep.Family == FamilyInet6 && la.IsLoopback():
				ep.Addr = netip.IPv6Loopback()
			}
		}
		out[i] = ep
	}
	return out
}

// IsLocalAddr reports whether an address is this host's: loopback or one
// of its interfaces' addresses.
func (s *Server) IsLocalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || s.localIPs[a]
}

// HostName returns this host's name: the first of Config.HostNames, else
// the system's host name. It is the host of the full name of a node that
// registered without one (ALIVE2).
func (s *Server) HostName() string { return s.hostName }

// IsLocalHost reports whether a host part names this host: empty,
// localhost, one of Config.HostNames (or the system host name), or an
// address of this host.
func (s *Server) IsLocalHost(host string) bool { return s.isLocalHost(host) }

func (s *Server) isLocalHost(host string) bool {
	if host == "" || strings.EqualFold(host, "localhost") || s.hosts[strings.ToLower(host)] {
		return true
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		return a.IsLoopback() || s.localIPs[a]
	}
	return false
}

// localHostSet collects the names and addresses that mean this host.
func localHostSet(names []string) (map[string]bool, map[netip.Addr]bool) {
	hosts := make(map[string]bool)
	if len(names) == 0 {
		if h, err := os.Hostname(); err == nil && h != "" {
			names = append(names, h)
		}
	}
	for _, n := range names {
		n = strings.ToLower(n)
		hosts[n] = true
		if short, _, ok := strings.Cut(n, "."); ok {
			hosts[short] = true
		}
	}
	ips := make(map[netip.Addr]bool)
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				ips[p.Addr().Unmap()] = true
			}
		}
	}
	return hosts, ips
}

// isLocalPeer applies OTP's rule: the peer is in 127.0.0.0/8, is ::1, or
// has the socket's own local address.
func isLocalPeer(c net.Conn) bool { return localPeer(peerAddr(c).Addr(), localAddr(c)) }

// localPeer is OTP's rule over addresses; an unknown peer is not local.
func localPeer(peer, local netip.Addr) bool {
	if !peer.IsValid() {
		return false
	}
	return peer.IsLoopback() || peer == local
}

func peerAddr(c net.Conn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// serverAddr is this server's side of c.
func serverAddr(c net.Conn) netip.AddrPort {
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

func localAddr(c net.Conn) netip.Addr {
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// owner describes the connection c, of id, that registers a node.
func (s *Server) owner(id uint64, c net.Conn) Owner {
	o := Owner{ID: id, FD: connFD(c)}
	if s.cfg.PeerUID != nil {
		o.UID, o.HasUID = s.cfg.PeerUID(c)
	}
	return o
}

// connFD returns the descriptor of a TCP connection, for DUMP; -1 when it
// has none.
func connFD(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}
