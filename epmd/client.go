package epmd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrNoExtension is returned by the client's extension calls when the
// daemon closed the connection without a byte: it is a stock epmd, and the
// caller should fall back to the classic protocol.
var ErrNoExtension = errors.New("epmd: the daemon does not speak the distgate extension")

// Client talks to an EPMD (OTP's or distgate's) over TCP.
type Client struct {
	// Addr is host:port of the daemon; 127.0.0.1:4369 when empty.
	Addr string
	// Timeout bounds each request that has no context deadline; 10 s when
	// zero. Registrations are not bounded after their reply.
	Timeout time.Duration
	// Dialer dials the daemon; a zero net.Dialer when nil.
	Dialer *net.Dialer
	// DialContext, when set, replaces Dialer: a TLS dialer reaches a
	// gateway's secure remote query port.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c *Client) addr() string {
	if c.Addr == "" {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultPort))
	}
	return c.Addr
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	d := c.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	if _, ok := ctx.Deadline(); !ok {
		t := c.Timeout
		if t <= 0 {
			t = 10 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	dial := d.DialContext
	if c.DialContext != nil {
		dial = c.DialContext
	}
	conn, err := dial(ctx, "tcp", c.addr())
	if err != nil {
		return nil, fmt.Errorf("epmd: dial %s: %w", c.addr(), err)
	}
	return conn, nil
}

func (c *Client) deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	t := c.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return time.Now().Add(t)
}

// Request sends one framed request and returns every byte of the reply,
// read until the daemon closes.
func (c *Client) Request(ctx context.Context, payload []byte) ([]byte, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	conn.SetDeadline(c.deadline(ctx))
	if _, err := conn.Write(AppendFrame(nil, payload)); err != nil {
		return nil, fmt.Errorf("epmd: write: %w", err)
	}
	b, err := io.ReadAll(conn)
	if err != nil && !isConnReset(err) {
		return b, fmt.Errorf("epmd: read: %w", err)
	}
	return b, nil
}

// PortPlease asks for a node's port with PORT_PLEASE2; it returns nil, nil
// when the name is not registered.
func (c *Client) PortPlease(ctx context.Context, name string) (*PortInfo, error) {
	b, err := c.Request(ctx, AppendPortPlease2(nil, name))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("epmd: port_please2 %q: closed without a reply", name)
	}
	return ParsePort2Reply(b)
}

// Names lists the registered nodes with NAMES.
func (c *Client) Names(ctx context.Context) (daemonPort int, names []NameEntry, err error) {
	b, err := c.Request(ctx, []byte{cmdNames})
	if err != nil {
		return 0, nil, err
	}
	return ParseNames(b)
}

// Kill asks the daemon to exit. It returns true when the daemon agreed.
func (c *Client) Kill(ctx context.Context) (bool, error) {
	b, err := c.Request(ctx, []byte{cmdKill})
	if err != nil {
		return false, err
	}
	switch string(b) {
	case "OK":
		return true, nil
	case "NO":
		return false, nil
	}
	return false, fmt.Errorf("epmd: kill: unexpected reply %q", b)
}

// Stop forcibly unregisters a name (relaxed daemons only). It returns
// false when the name was not registered.
func (c *Client) Stop(ctx context.Context, name string) (bool, error) {
	b, err := c.Request(ctx, append([]byte{cmdStop}, name...))
	if err != nil {
		return false, err
	}
	switch string(b) {
	case "STOPPED":
		return true, nil
	case "NOEXISTSTOPPED":
		return false, nil
	}
	return false, fmt.Errorf("epmd: stop %q: unexpected reply %q (is the daemon relaxed?)", name, b)
}

// Registered is a live registration. The node stays registered until
// Close, or until the daemon or the network drops the connection.
type Registered struct {
	// Creation is the creation the daemon assigned.
	Creation uint32

	conn net.Conn
	mu   sync.Mutex // serialises AddTransports
	done chan struct{}
	err  error
}

// Close ends the registration.
func (r *Registered) Close() error { return r.conn.Close() }

// Done is closed when the registration's connection ends.
func (r *Registered) Done() <-chan struct{} { return r.done }

// Register registers a node with a classic ALIVE2 request. It returns an
// error wrapping ErrNameInUse when the daemon refused the name.
func (c *Client) Register(ctx context.Context, a Alive2) (*Registered, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(c.deadline(ctx))
	if _, err := conn.Write(AppendFrame(nil, a.Append(nil))); err != nil {
		conn.Close()
		return nil, fmt.Errorf("epmd: alive2 %q: write: %w", a.Name, err)
	}
	n := 4
	if a.HighVsn >= 6 {
		n = 6
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(conn, buf); err != nil {
		conn.Close()
		return nil, fmt.Errorf("epmd: alive2 %q: read reply: %w", a.Name, err)
	}
	rep, err := ParseAlive2Reply(buf)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if rep.Result != 0 {
		conn.Close()
		return nil, fmt.Errorf("epmd: alive2 %q: result %d: %w", a.Name, rep.Result, ErrNameInUse)
	}
	conn.SetDeadline(time.Time{})
	return watch(&Registered{Creation: rep.Creation, conn: conn, done: make(chan struct{})}, false), nil
}

// watch waits for the end of a classic registration's connection. For an
// extension registration, replies to AddTransports arrive on the same
// connection, so the end is noticed by the next read instead.
func watch(r *Registered, ext bool) *Registered {
	if ext {
		return r
	}
	go func() {
		var b [1]byte
		_, r.err = r.conn.Read(b[:])
		close(r.done)
	}()
	return r
}

// RegisterX registers a node with several transports (REGISTER_X). It
// returns ErrNoExtension from a stock epmd, and a *StatusError when the
// daemon refused.
func (c *Client) RegisterX(ctx context.Context, reg Registration) (*Registered, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(c.deadline(ctx))
	if _, err := conn.Write(AppendFrame(nil, reg.AppendRegister(nil))); err != nil {
		conn.Close()
		return nil, fmt.Errorf("epmd: register %q: write: %w", reg.Name, err)
	}
	rep, err := readExtReply(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	creation, err := creationOf("register "+reg.Name, rep, respRegisterX)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return watch(&Registered{Creation: creation, conn: conn, done: make(chan struct{})}, true), nil
}

// AddTransports adds transports to an extension registration.
func (r *Registered) AddTransports(ctx context.Context, ts []Transport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := ctx.Deadline(); ok {
		r.conn.SetDeadline(d)
		defer r.conn.SetDeadline(time.Time{})
	}
	if _, err := r.conn.Write(AppendFrame(nil, AppendAddTransports(nil, ts))); err != nil {
		return fmt.Errorf("epmd: add transports: write: %w", err)
	}
	rep, err := readExtReply(r.conn)
	if err != nil {
		return err
	}
	_, err = creationOf("add transports", rep, respAddTranspts)
	return err
}

func creationOf(op string, rep extReply, code byte) (uint32, error) {
	if rep.code != code {
		return 0, fmt.Errorf("epmd: %s: reply code %q: %w", op, rep.code, errMalformed)
	}
	if rep.status != StatusOK {
		return 0, &StatusError{Op: op, Status: rep.status, Message: rep.message()}
	}
	f := fields{b: rep.body}
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		if tag == tagRegCreation {
			return fieldUint32(tag, v)
		}
	}
	return 0, fmt.Errorf("epmd: %s: reply without creation: %w", op, errMalformed)
}

// extRequest sends an extension request and reads its reply.
func (c *Client) extRequest(ctx context.Context, payload []byte, code byte, op string) (extReply, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return extReply{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	conn.SetDeadline(c.deadline(ctx))
	if _, err := conn.Write(AppendFrame(nil, payload)); err != nil {
		return extReply{}, fmt.Errorf("epmd: %s: write: %w", op, err)
	}
	rep, err := readExtReply(conn)
	if err != nil {
		return extReply{}, err
	}
	if rep.code != code {
		return extReply{}, fmt.Errorf("epmd: %s: reply code %q: %w", op, rep.code, errMalformed)
	}
	return rep, nil
}

// Lookup resolves a node by full name (LOOKUP_X). It returns
// ErrNoExtension from a stock epmd and a *StatusError (StatusNotFound,
// StatusDenied, ...) when there is no endpoint.
func (c *Client) Lookup(ctx context.Context, q LookupRequest) ([]Endpoint, error) {
	rep, err := c.extRequest(ctx, q.Append(nil), respLookupX, "lookup "+q.Node)
	if err != nil {
		return nil, err
	}
	if rep.status != StatusOK {
		return nil, &StatusError{Op: "lookup " + q.Node, Status: rep.status, Message: rep.message()}
	}
	return parseLookupReplyBody(rep.body)
}

// NamesX lists the registered nodes with all their transports (NAMES_X).
func (c *Client) NamesX(ctx context.Context) ([]NodeInfo, error) {
	rep, err := c.extRequest(ctx, AppendNamesX(nil), respNamesX, "names")
	if err != nil {
		return nil, err
	}
	if rep.status != StatusOK {
		return nil, &StatusError{Op: "names", Status: rep.status, Message: rep.message()}
	}
	return parseNamesXReplyBody(rep.body)
}

func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// readExtReply reads one extension reply. It returns io.EOF when the
// connection closed before any byte: the peer does not speak the extension.
func readExtReply(r io.Reader) (extReply, error) {
	var hdr [extReplyHeaderLen]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if n == 0 && (err == io.EOF || isConnReset(err)) {
			return extReply{}, ErrNoExtension
		}
		return extReply{}, fmt.Errorf("epmd: reading reply header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[3:])
	if n > MaxExtReplyLen {
		return extReply{}, fmt.Errorf("epmd: reply of %d bytes exceeds %d: %w", n, MaxExtReplyLen, errMalformed)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return extReply{}, fmt.Errorf("epmd: reading reply body: %w", err)
	}
	return extReply{code: hdr[0], version: hdr[1], status: Status(hdr[2]), body: body}, nil
}
