package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/handshake"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/relay"
	"github.com/distgate/distgate/internal/freeport"
)

// testLogger logs to the test when -v, else nowhere.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// freeTCP and freeUDP return loopback addresses free now, from below the
// ephemeral range where no other listener or connection takes them before
// the gateway binds them (see internal/freeport).
func freeTCP(t testing.TB) string {
	t.Helper()
	port, err := freeport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

func freeUDP(t testing.TB) string {
	t.Helper()
	port, err := freeport.UDP()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// site is a gateway under test, prepared before it starts so that peers
// can know each other's addresses and identities.
type site struct {
	name     string
	dataDir  string
	id       *pki.Identity
	quic     string
	tls      string
	hostname string // the host part of this site's node names
	cfg      Config
	gw       *Gateway
}

func prepareSite(t testing.TB, name string) *site {
	t.Helper()
	s := &site{name: name, dataDir: t.TempDir(), quic: freeUDP(t), tls: freeTCP(t), hostname: "n1." + name + ".example"}
	id, err := pki.LoadOrCreateIdentity(s.dataDir, name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.id = id
	s.cfg = Config{
		Site: name, DataDir: s.dataDir,
		EPMD:  EPMDConfig{Listen: "127.0.0.1:0", Hosts: []string{s.hostname}},
		Admin: AdminConfig{Listen: "127.0.0.1:0"},
		Links: LinksConfig{QUIC: s.quic, TLS: s.tls},
	}
	return s
}

// peerOf describes s as a peer of another site.
func (s *site) peerOf() PeerConfig {
	return PeerConfig{Site: s.name, QUIC: Addrs{s.quic}, TLS: Addrs{s.tls}, Identity: s.id.ID.String()}
}

func (s *site) start(t testing.TB) {
	t.Helper()
	gw, err := New(context.Background(), s.cfg, Options{Logger: testLogger(t).With("site", s.name)})
	if err != nil {
		t.Fatalf("start %s: %v", s.name, err)
	}
	s.gw = gw
	t.Cleanup(func() { gw.Close() })
}

func (s *site) epmdClient() *epmd.Client {
	return &epmd.Client{Addr: s.gw.EPMDAddr().String(), Timeout: 5 * time.Second}
}

// twoSites starts site-a and site-b, each routing the other's names to it
// over transport.
func twoSites(t testing.TB, transport string) (a, b *site) {
	t.Helper()
	a, b = prepareSite(t, "site-a"), prepareSite(t, "site-b")
	a.cfg.Peers = []PeerConfig{b.peerOf()}
	b.cfg.Peers = []PeerConfig{a.peerOf()}
	a.cfg.Routes = []RouteConfig{{Match: "*@*.site-b.example", Site: "site-b", Transport: transport, Liveness: Duration(3 * time.Second)}}
	b.cfg.Routes = []RouteConfig{{Match: "*@*.site-a.example", Site: "site-a", Transport: transport, Liveness: Duration(3 * time.Second)}}
	a.start(t)
	b.start(t)
	return a, b
}

// fakeNode stands for an Erlang node: it registers with a site's EPMD and
// records what callers send it; after the caller's first frame it echoes
// every byte back.
type fakeNode struct {
	ln    net.Listener
	reg   *epmd.Registered
	mu    sync.Mutex
	first [][]byte // the first frame of each connection
}

func startFakeNode(t testing.TB, s *site, name string) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				frame, _, err := handshake.ReadFrame(c, 2, handshake.MaxSendName)
				if err != nil {
					return
				}
				n.mu.Lock()
				n.first = append(n.first, frame)
				n.mu.Unlock()
				io.Copy(c, c)
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	reg, err := s.epmdClient().RegisterX(context.Background(), epmd.Registration{Name: name, Host: s.hostname, Transports: []epmd.Transport{
		{Proto: "inet_tcp", Port: uint16(port), Family: epmd.FamilyInet, HighVsn: 6, LowVsn: 6},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	n.reg = reg
	return n
}

// dialRemote looks target up at site s and connects to the answer, sending
// a send_name for caller.
func dialRemote(t testing.TB, s *site, target, caller string) (net.Conn, []byte, error) {
	t.Helper()
	eps, err := s.epmdClient().Lookup(context.Background(), epmd.LookupRequest{Node: target, Accept: []string{"inet_tcp"}, Asker: caller})
	if err != nil {
		return nil, nil, err
	}
	if len(eps) != 1 || !eps[0].Addr.IsLoopback() {
		t.Fatalf("lookup %s: %+v, want one loopback proxy endpoint", target, eps)
	}
	c, err := net.Dial("tcp", net.JoinHostPort(eps[0].Addr.String(), strconv.Itoa(int(eps[0].Port))))
	if err != nil {
		t.Fatal(err)
	}
	body := handshake.AppendSendNameV6(nil, handshake.SendName{Name: caller, Flags: 0xd07df7fbd, Creation: 7})
	frame := append([]byte{byte(len(body) >> 8), byte(len(body))}, body...)
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	return c, frame, nil
}

func testRelay(t *testing.T, transport string) {
	a, b := twoSites(t, transport)
	node := startFakeNode(t, b, "y")
	startFakeNode(t, a, "x") // the caller: a node of site A, registered by this process
	c, frame, err := dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// 4 MB of patterned bytes each way, with writes and reads overlapping.
	payload := make([]byte, 4<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	go c.Write(payload)
	got := make([]byte, len(payload))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(payload) {
		t.Fatal("echoed bytes differ")
	}
	node.mu.Lock()
	first := node.first[0]
	node.mu.Unlock()
	if !bytes.Equal(first, frame) {
		t.Fatalf("the node got send_name %x, want %x", first, frame)
	}
	st := a.gw.Status()
	if len(st.Relays) != 1 || st.Relays[0].Caller != "x@n1.site-a.example" || st.Relays[0].Target != "y@n1.site-b.example" || st.Relays[0].Transport != transport || st.Relays[0].Direction != relay.Out {
		t.Fatalf("site-a relays: %+v", st.Relays)
	}
	if st.Relays[0].BytesOut < int64(len(payload)) {
		t.Fatalf("site-a counted %d bytes out", st.Relays[0].BytesOut)
	}
	if rs := b.gw.Status().Relays; len(rs) != 1 || rs[0].Caller != "x@n1.site-a.example" || rs[0].Direction != relay.In {
		t.Fatalf("site-b relays: %+v", rs)
	}
	found := false
	for _, l := range st.Links {
		found = found || (l.Peer == "site-b" && l.Transport.String() == transport)
	}
	if !found {
		t.Fatalf("site-a links: %+v", st.Links)
	}
	// Closing the caller ends the relay on both sites.
	c.Close()
	waitFor(t, "relays to end", func() bool { return a.gw.relays.Len() == 0 && b.gw.relays.Len() == 0 })
	// Each site tells the relay's life, with the reason it ended.
	for _, s := range []*site{a, b} {
		var kinds []string
		var ended *events.Event
		for _, e := range s.gw.events.Since(0, "y", 0) {
			kinds = append(kinds, string(e.Kind))
			if e.Kind == events.Ended {
				ended = &e
			}
		}
		if ended == nil || ended.Reason != events.CallerClosed || ended.Caller != "x@n1.site-a.example" || ended.Transport != transport ||
			ended.BytesToTarget < int64(len(payload)) || ended.BytesToCaller < int64(len(payload)) || ended.Duration <= 0 {
			t.Fatalf("%s: events of y: %v, ended: %+v", s.name, kinds, ended)
		}
	}
	// The link's bytes show in the status, TLS as QUIC.
	var linkOut uint64
	for _, l := range a.gw.Status().Peers {
		if l.Peer == "site-b" && l.Transport.String() == transport {
			linkOut = l.BytesOut
		}
	}
	if linkOut < uint64(len(payload)) {
		t.Fatalf("site-a's %s link to site-b carried %d bytes out, want at least %d", transport, linkOut, len(payload))
	}
	m := scrape(t, a)
	for _, want := range []string{
		`distgate_relays_ended_total{direction="out",reason="caller_closed",route="site-b"} 1`,
		`distgate_link_up{peer="site-b",transport="` + transport + `"} 1`,
		`distgate_relays_total{direction="out",result="ok",transport="` + transport + `"} 1`,
		`distgate_lookups_total{route="via",status="ok"} 1`,
		`distgate_link_dials_total{peer="site-b",result="ok",transport="` + transport + `"} 1`,
		"distgate_relays_active 0",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("site A metrics lack %s", want)
		}
	}
	if !strings.Contains(scrape(t, b), `distgate_relays_total{direction="in",result="ok",transport="`+transport+`"} 1`) {
		t.Error("site B does not count the relay")
	}
}

// scrape reads a site's metrics through its admin API.
func scrape(t testing.TB, s *site) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.gw.AdminAddr()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.gw.admin.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	return string(b)
}

func TestRelayQUIC(t *testing.T) { testRelay(t, "quic") }
func TestRelayTLS(t *testing.T)  { testRelay(t, "tls") }

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestRelayRefusals: an unknown target and a policy refusal close the
// caller's connection at once, and say why in the log.
func TestRelayRefusals(t *testing.T) {
	a, b := twoSites(t, "quic")
	startFakeNode(t, b, "y")
	c, _, err := dialRemote(t, a, "nobody@n1.site-b.example", "x@n1.site-a.example")
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("unknown target: read %d, %v; want the connection closed", n, err)
	}
	c.Close()
	b.gw.SetRouter(denyAll{})
	c, _, err = dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("denied: read %d, %v; want the connection closed", n, err)
	}
}

type denyAll struct{}

func (denyAll) Lookup(context.Context, *abi.LookupRequest) abi.Route { return abi.None() }
func (denyAll) Authorize(context.Context, Via, *abi.AuthorizeRequest) abi.Decision {
	return abi.Refuse("denied by test")
}

// TestWrongIdentityRefused: a peer pinned with another identity cannot
// link.
func TestWrongIdentityRefused(t *testing.T) {
	a, b := prepareSite(t, "site-a"), prepareSite(t, "site-b")
	imposter := prepareSite(t, "site-b")
	pa := b.peerOf()
	pa.Identity = imposter.id.ID.String() // A expects someone else
	a.cfg.Peers = []PeerConfig{pa}
	b.cfg.Peers = []PeerConfig{a.peerOf()}
	a.cfg.Routes = []RouteConfig{{Match: "*@*.site-b.example", Site: "site-b"}}
	a.start(t)
	b.start(t)
	startFakeNode(t, b, "y")
	c, _, err := dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d, %v; want the connection closed", n, err)
	}
	st := a.gw.Status()
	down := ""
	for _, l := range st.Links {
		down += l.Down
	}
	if !strings.Contains(down, "pinned identity") {
		t.Fatalf("link status does not say why: %+v", st.Links)
	}
}

// TestRelayHalfCloseAndIdleLink: a caller that half-closes gets every byte
// echoed and then the end of the stream, over QUIC and TLS; a QUIC link
// that carries nothing for the idle time is closed, and dialled again on
// the next connection.
func TestRelayHalfCloseAndIdleLink(t *testing.T) {
	for _, transport := range []string{"quic", "tls"} {
		t.Run(transport, func(t *testing.T) {
			a, b := prepareSite(t, "site-a"), prepareSite(t, "site-b")
			a.cfg.Peers = []PeerConfig{b.peerOf()}
			b.cfg.Peers = []PeerConfig{a.peerOf()}
			a.cfg.Routes = []RouteConfig{{Match: "*@*.site-b.example", Site: "site-b", Transport: transport}}
			a.cfg.Proxy.Idle = Duration(300 * time.Millisecond)
			a.start(t)
			b.start(t)
			startFakeNode(t, b, "y")
			for round := range 2 {
				c, _, err := dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
				if err != nil {
					t.Fatal(err)
				}
				payload := bytes.Repeat([]byte("half-close "), 100000)
				if _, err := c.Write(payload); err != nil {
					t.Fatal(err)
				}
				c.(*net.TCPConn).CloseWrite()
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				got, err := io.ReadAll(c)
				if err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("round %d: echoed %d of %d bytes, %v", round, len(got), len(payload), err)
				}
				c.Close()
				if transport == "quic" {
					waitFor(t, "the unused link to close", func() bool {
						for _, l := range a.gw.Status().Links {
							if l.Transport == link.QUIC && l.Direction == "out" {
								return false
							}
						}
						return true
					})
				}
			}
		})
	}
}

// TestTerminateReframesAndShutsDown: a TLS caller (framing of TLS
// distribution) reaches a node's TCP port with its send_name reframed to
// 2 bytes; closing the gateway ends the live relay instead of waiting
// for the caller.
func TestTerminateReframesAndShutsDown(t *testing.T) {
	s := prepareSite(t, "edge")
	s.cfg.Public = PublicConfig{Address: "127.0.0.1", Export: []string{"*"}}
	s.cfg.Links.Off, s.cfg.Links.QUIC, s.cfg.Links.TLS = true, "", ""
	s.start(t)
	node := startFakeNode(t, s, "y")
	port, err := s.gw.term.Port("y")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true, ServerName: "n1.edge.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := handshake.AppendSendNameV6(nil, handshake.SendName{Name: "x@laptop", Flags: 1})
	if _, err := c.Write(append([]byte{0, 0, 0, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to get the send_name", func() bool {
		node.mu.Lock()
		defer node.mu.Unlock()
		return len(node.first) == 1
	})
	if want := append([]byte{0, byte(len(body))}, body...); !bytes.Equal(node.first[0], want) {
		t.Fatalf("the node got %x, want %x", node.first[0], want)
	}
	closed := make(chan struct{})
	go func() { s.gw.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a live TLS-terminated relay")
	}
}

// TestNewFailsCleanly: a gateway that cannot open a listener returns the
// error, having closed what it had opened.
func TestNewFailsCleanly(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := prepareSite(t, "x")
	s.cfg.Links.TLS = taken.Addr().String()
	_, err = New(context.Background(), s.cfg, Options{Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("New with a taken port: %v", err)
	}
}
