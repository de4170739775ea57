package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startServer serves on a fresh loopback port and returns a client for it.
func startServer(t *testing.T, cfg Config) (*Server, *Client) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	srv := NewServer(cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, &Client{Addr: ln.Addr().String(), Timeout: 5 * time.Second}
}

// exchange writes raw bytes and returns everything read until the server
// closes; closed reports whether it closed (rather than timed out).
func exchange(t *testing.T, addr string, raw []byte) (reply []byte, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(raw); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return b, err == nil
}

// eventually polls cond until it holds or 5 s pass: the server's handlers
// run on their own goroutines.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func registered(srv *Server, name string) bool {
	var ok bool
	srv.Registry(func(r *Registry) { _, ok = r.nodes[name] })
	return ok
}

func TestServerClassic(t *testing.T) {
	srv, c := startServer(t, Config{})
	ctx := context.Background()
	reg, err := c.Register(ctx, Alive2{Port: 40000, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "foo", Extra: []byte{7}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, Alive2{Port: 40001, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "foo"}); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("second foo: %v, want ErrNameInUse", err)
	}
	p, err := c.PortPlease(ctx, "foo")
	if err != nil || p == nil || p.Port != 40000 || p.NodeType != 'M' || !bytes.Equal(p.Extra, []byte{7}) {
		t.Fatalf("PortPlease(foo) = %+v, %v", p, err)
	}
	if p, err := c.PortPlease(ctx, "bar"); p != nil || err != nil {
		t.Fatalf("PortPlease(bar) = %+v, %v", p, err)
	}
	port, names, err := c.Names(ctx)
	if err != nil || port != srv.cfg.Port || len(names) != 1 || names[0] != (NameEntry{"foo", 40000}) {
		t.Fatalf("Names = %d %+v %v", port, names, err)
	}
	dump, _ := c.Request(ctx, []byte{cmdDump})
	if !strings.Contains(string(dump), "active name     <foo> at port 40000, fd = ") {
		t.Fatalf("dump = %q", dump)
	}
	if ok, err := c.Kill(ctx); ok || err != nil {
		t.Fatalf("Kill with a live node = %v, %v; want refused", ok, err)
	}
	if ok, err := c.Stop(ctx, "foo"); err == nil || ok {
		t.Fatalf("Stop without relaxed = %v, %v; want an error", ok, err)
	}
	reg.Close()
	eventually(t, "foo to be unregistered", func() bool { return !registered(srv, "foo") })
	dump, _ = c.Request(ctx, []byte{cmdDump})
	if !strings.Contains(string(dump), "old/unused name <foo>, port = 40000") {
		t.Fatalf("dump after close = %q", dump)
	}
}

func TestServerFraming(t *testing.T) {
	srv, c := startServer(t, Config{})
	names := func(body string) []byte { return AppendFrame(nil, append([]byte{cmdNames}, body...)) }
	hdr := appendPortHeader(nil, srv.cfg.Port)
	for _, tc := range []struct {
		name string
		raw  []byte
		want []byte
	}{
		{"length 0", []byte{0, 0}, nil},
		{"length 3058", binary.BigEndian.AppendUint16(nil, 3058), nil},
		{"length 3057 accepted", names(strings.Repeat("x", 3056)), hdr},
		{"more bytes than declared", append(names(""), 'x'), nil},
		{"unknown command", AppendFrame(nil, []byte("?")), nil},
		{"old ALIVE_REQ 'a'", AppendFrame(nil, []byte("a\x00\x01foo")), nil},
		{"port_please of nothing", AppendFrame(nil, []byte("z")), nil},
		{"port_please not found", AppendFrame(nil, []byte("znope")), []byte{'w', 1}},
		{"short alive2", AppendFrame(nil, mustHex("78 9c40 4d 00 0006 0006 0000 0000")), nil},
		{"stop without relaxed", AppendFrame(nil, []byte("sfoo")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, closed := exchange(t, c.Addr, tc.raw)
			if !closed || !bytes.Equal(got, tc.want) {
				t.Fatalf("reply %q (closed %v), want %q", got, closed, tc.want)
			}
		})
	}
}

// TestServerDribble sends a request one byte at a time: it is answered.
func TestServerDribble(t *testing.T) {
	_, c := startServer(t, Config{})
	conn, err := net.Dial("tcp", c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, b := range AppendFrame(nil, []byte("znope")) {
		if _, err := conn.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // each byte its own segment
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil || !bytes.Equal(got, []byte{'w', 1}) {
		t.Fatalf("dribbled request: %q, %v", got, err)
	}
}

func TestServerPacketTimeout(t *testing.T) {
	srv, c := startServer(t, Config{PacketTimeout: 300 * time.Millisecond})
	reg, err := c.Register(context.Background(), Alive2{Port: 1, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	idle, err := net.Dial("tcp", c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.Write([]byte{0}) // half a header, then silence
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if n, err := idle.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d, %v; want EOF", n, err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before the packet timeout", waited)
	}
	// The registration has been idle as long: it must stay.
	if !registered(srv, "keep") {
		t.Fatal("registration timed out")
	}
}

func TestServerGarbageOnAliveSocket(t *testing.T) {
	srv, c := startServer(t, Config{})
	conn, err := net.Dial("tcp", c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(AppendFrame(nil, Alive2{Port: 1, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "g"}.Append(nil)))
	rep := make([]byte, 6)
	if _, err := io.ReadFull(conn, rep); err != nil || rep[0] != respAlive2X || rep[1] != 0 {
		t.Fatalf("alive2 reply %x, %v", rep, err)
	}
	other, err := c.Register(context.Background(), Alive2{Port: 2, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn.Write([]byte("garbage"))
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := conn.Read(rep); n != 0 || err == nil {
		t.Fatalf("after garbage: read %d, %v; want close", n, err)
	}
	eventually(t, "g to be unregistered", func() bool { return !registered(srv, "g") })
	if !registered(srv, "other") {
		t.Fatal("garbage on one registration removed another")
	}
}

// TestServerRefusedAliveKeepsConnection: OTP keeps the connection of a
// refused ALIVE2 open, and the refused name must not disturb the holder.
func TestServerRefusedAliveKeepsConnection(t *testing.T) {
	srv, c := startServer(t, Config{})
	holder, err := c.Register(context.Background(), Alive2{Port: 1, NodeType: 'M', HighVsn: 5, LowVsn: 5, Name: "dup"})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if holder.Creation < 1 || holder.Creation > 3 {
		t.Fatalf("v5 creation %d not in 1..3", holder.Creation)
	}
	conn, _ := net.Dial("tcp", c.Addr)
	defer conn.Close()
	conn.Write(AppendFrame(nil, Alive2{Port: 2, NodeType: 'M', HighVsn: 5, LowVsn: 5, Name: "dup"}.Append(nil)))
	rep := make([]byte, 4)
	io.ReadFull(conn, rep)
	if !bytes.Equal(rep, mustHex("79 01 0063")) {
		t.Fatalf("refusal %x", rep)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := conn.Read(rep); !isTimeout(err) {
		t.Fatalf("refused connection: %v; want it held open", err)
	}
	conn.Close()
	time.Sleep(50 * time.Millisecond)
	if !registered(srv, "dup") {
		t.Fatal("closing the refused connection unregistered the holder")
	}
}

func TestServerStopAndKillRelaxed(t *testing.T) {
	killed := make(chan struct{})
	srv, c := startServer(t, Config{Relaxed: true, OnKill: func() { close(killed) }})
	ctx := context.Background()
	reg, err := c.Register(ctx, Alive2{Port: 1, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Stop(ctx, "nosuch"); ok || err != nil {
		t.Fatalf("Stop(nosuch) = %v, %v", ok, err)
	}
	if got, _ := exchange(t, c.Addr, AppendFrame(nil, []byte("snosuch"))); string(got) != "NOEXISTSTOPPED" {
		t.Fatalf("raw stop reply %q", got)
	}
	if ok, err := c.Stop(ctx, "victim"); !ok || err != nil {
		t.Fatalf("Stop(victim) = %v, %v", ok, err)
	}
	select {
	case <-reg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("stopped node's connection stayed open")
	}
	if registered(srv, "victim") {
		t.Fatal("victim still registered")
	}
	c.Register(ctx, Alive2{Port: 1, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "alive"})
	if ok, err := c.Kill(ctx); !ok || err != nil {
		t.Fatalf("relaxed Kill = %v, %v", ok, err)
	}
	select {
	case <-killed:
	case <-time.After(5 * time.Second):
		t.Fatal("OnKill not called")
	}
	if _, err := net.DialTimeout("tcp", c.Addr, time.Second); err == nil {
		t.Fatal("still accepting after KILL")
	}
}

// TestServerNoKill: with NoKill, KILL is refused even relaxed and with no
// node registered, and the server keeps serving.
func TestServerNoKill(t *testing.T) {
	_, c := startServer(t, Config{Relaxed: true, NoKill: true, OnKill: func() { t.Error("OnKill called") }})
	ctx := context.Background()
	for range 2 {
		if ok, err := c.Kill(ctx); ok || err != nil {
			t.Fatalf("Kill = %v, %v; want a refusal", ok, err)
		}
	}
	if _, _, err := c.Names(ctx); err != nil {
		t.Fatalf("NAMES after the refused KILL: %v", err)
	}
}

func TestServerExtension(t *testing.T) {
	srv, c := startServer(t, Config{HostNames: []string{"db1.example.com"}})
	ctx := context.Background()
	reg, err := c.RegisterX(ctx, Registration{Name: "app", Host: "db1", Transports: []Transport{
		{Proto: "inet_tcp", Port: 5000, Family: FamilyInet, HighVsn: 6, LowVsn: 6},
		{Proto: "inet_tls", Port: 5001, Family: FamilyInet, HighVsn: 6, LowVsn: 6},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.AddTransports(ctx, []Transport{{Proto: "uds", Path: "/run/app.sock", Family: FamilyLocal}}); err != nil {
		t.Fatal(err)
	}
	err = reg.AddTransports(ctx, []Transport{{Proto: "BAD"}})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusBadRequest || !strings.Contains(se.Message, "protocol name") {
		t.Fatalf("bad AddTransports: %v", err)
	}
	// Classic clients see the TCP transport.
	if p, _ := c.PortPlease(ctx, "app"); p == nil || p.Port != 5000 {
		t.Fatalf("PortPlease(app) = %+v", p)
	}
	for _, tc := range []struct {
		node   string
		accept []string
		ports  []uint16
		status Status
	}{
		{"app@db1", []string{"inet_tls"}, []uint16{5001}, StatusOK},
		{"app@DB1.example.com", []string{"inet_tls", "inet_tcp"}, []uint16{5001, 5000}, StatusOK},
		{"app@localhost", nil, []uint16{5000, 5001, 0}, StatusOK},
		{"app@127.0.0.1", []string{"inet_tcp"}, []uint16{5000}, StatusOK},
		{"app", []string{"inet_tcp"}, []uint16{5000}, StatusOK},
		{"app@elsewhere.example", nil, nil, StatusNoRoute},
		{"app@db1", []string{"quic"}, nil, StatusNotFound},
		{"nope@db1", nil, nil, StatusNotFound},
	} {
		eps, err := c.Lookup(ctx, LookupRequest{Node: tc.node, Accept: tc.accept})
		if tc.status != StatusOK {
			if !errors.As(err, &se) || se.Status != tc.status || se.Message == "" {
				t.Errorf("Lookup(%s, %v) = %+v, %v; want %v with a message", tc.node, tc.accept, eps, err, tc.status)
			}
			continue
		}
		if err != nil || len(eps) != len(tc.ports) {
			t.Errorf("Lookup(%s, %v) = %+v, %v", tc.node, tc.accept, eps, err)
			continue
		}
		for i, ep := range eps {
			if ep.Port != tc.ports[i] || (ep.Family == FamilyInet && ep.Addr != netip.MustParseAddr("127.0.0.1")) {
				t.Errorf("Lookup(%s)[%d] = %+v", tc.node, i, ep)
			}
		}
	}
	// The name space is shared with ALIVE2.
	if _, err := c.Register(ctx, Alive2{Port: 9, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "app"}); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("ALIVE2 of a REGISTER_X name: %v", err)
	}
	_, err = c.RegisterX(ctx, Registration{Name: "app", Transports: []Transport{{Proto: "inet_tcp", Port: 1, Family: FamilyInet}}})
	if !errors.As(err, &se) || se.Status != StatusNameInUse {
		t.Fatalf("duplicate RegisterX: %v", err)
	}
	nodes, err := c.NamesX(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "app" || nodes[0].Host != "db1" || len(nodes[0].Transports) != 3 {
		t.Fatalf("NamesX = %+v, %v", nodes, err)
	}
	// Any other request on the registration connection ends it.
	reg.conn.Write(AppendFrame(nil, []byte("n")))
	eventually(t, "app to be unregistered", func() bool { return !registered(srv, "app") })
}

// TestServerManyIdleConnections holds thousands of silent connections and
// checks that registrations and lookups go on around them.
func TestServerManyIdleConnections(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	_, c := startServer(t, Config{})
	var idle []net.Conn
	defer func() {
		for _, conn := range idle {
			conn.Close()
		}
	}()
	for i := range n {
		conn, err := net.Dial("tcp", c.Addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		if i%2 == 0 {
			conn.Write([]byte{0}) // half a header
		}
		idle = append(idle, conn)
	}
	ctx := context.Background()
	reg, err := c.Register(ctx, Alive2{Port: 77, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				p, err := c.PortPlease(ctx, "busy")
				if err != nil || p == nil || p.Port != 77 {
					errs <- fmt.Errorf("PortPlease = %+v, %v", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestLocalPeer(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		peer, local string
		want        bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.9.8.7", "10.0.0.1", true},
		{"::1", "::1", true},
		{"10.0.0.1", "10.0.0.1", true},
		{"10.0.0.2", "10.0.0.1", false},
		{"fe80::1", "fe80::2", false},
	} {
		if got := localPeer(a(tc.peer), a(tc.local)); got != tc.want {
			t.Errorf("localPeer(%s, %s) = %v", tc.peer, tc.local, got)
		}
	}
	if localPeer(netip.Addr{}, a("127.0.0.1")) {
		t.Error("an unknown peer is local")
	}
}

// TestServerRecordsOwnerUID: with Config.PeerUID, a registration (classic
// or extended) records the uid it finds for the registering connection.
func TestServerRecordsOwnerUID(t *testing.T) {
	var asked atomic.Int32
	srv, cl := startServer(t, Config{PeerUID: func(c net.Conn) (uint32, bool) {
		asked.Add(1)
		return 4242, c.RemoteAddr() != nil
	}})
	ctx := context.Background()
	r1, err := cl.Register(ctx, Alive2{Name: "classic", Port: 9, NodeType: NodeTypeNormal, HighVsn: 6, LowVsn: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := cl.RegisterX(ctx, tcpReg("ext", 10))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	srv.Registry(func(r *Registry) {
		for _, name := range []string{"classic", "ext"} {
			if o, ok := r.Owner(name); !ok || !o.HasUID || o.UID != 4242 {
				t.Errorf("Owner(%s) = %+v, %v", name, o, ok)
			}
		}
	})
	if asked.Load() != 2 {
		t.Fatalf("PeerUID asked %d times, want 2", asked.Load())
	}
}
