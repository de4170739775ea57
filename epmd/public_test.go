package epmd

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// exportOnly is a Public that exports one name on another port, lists
// names only when told, and admits a fixed number of connections.
type exportOnly struct {
	mu       sync.Mutex
	admit    int
	names    bool
	refusals []string
}

func (p *exportOnly) Admit(netip.AddrPort, net.Conn) (Admission, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.admit--
	return noAdmission{}, p.admit >= 0
}

type noAdmission struct{}

func (noAdmission) Established() {}
func (noAdmission) Done()        {}

func (p *exportOnly) PortPlease(_ context.Context, _ netip.AddrPort, name string) *PortInfo {
	if name != "pub" {
		return nil
	}
	return &PortInfo{Port: 9999, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: name}
}

func (p *exportOnly) Names(context.Context, netip.AddrPort) ([]NameEntry, bool) {
	return []NameEntry{{Name: "pub", Port: 9999}}, p.names
}

func (p *exportOnly) Refused(_ netip.AddrPort, what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusals = append(p.refusals, what)
}

func TestServerPublic(t *testing.T) {
	pub := &exportOnly{admit: 1000}
	srv, c := startServer(t, Config{Public: pub, Relaxed: true})
	for _, tc := range []struct {
		name, raw string
		want      []byte
	}{
		{"exported", "zpub", appendPort2Reply(nil, &PortInfo{Port: 9999, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "pub"})},
		{"not exported", "zsecret", []byte{'w', 1}},
		{"names off", "n", nil},
		{"registration", string(Alive2{Port: 1, NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: "evil"}.Append(nil)), nil},
		{"dump", "d", nil},
		{"kill", "k", nil},
		{"stop", "spub", nil},
		{"lookup", string(LookupRequest{Node: "pub@h"}.Append(nil)), nil},
	} {
		got, closed := exchange(t, c.Addr, AppendFrame(nil, []byte(tc.raw)))
		if !closed || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %q (closed %v), want %q", tc.name, got, closed, tc.want)
		}
	}
	if registered(srv, "evil") {
		t.Fatal("a public EPMD registered a node")
	}
	pub.mu.Lock()
	refusals := len(pub.refusals)
	pub.mu.Unlock()
	if refusals != 5 {
		t.Fatalf("refusals logged: %v", pub.refusals)
	}
	pub.names = true
	got, _ := exchange(t, c.Addr, AppendFrame(nil, []byte("n")))
	if want := appendNamesLine(appendPortHeader(nil, srv.cfg.Port), "pub", 9999); !bytes.Equal(got, want) {
		t.Fatalf("names on: %q", got)
	}
	// Past its admissions, connections are closed unread.
	pub.mu.Lock()
	pub.admit = 0
	pub.mu.Unlock()
	start := time.Now()
	// (closed or reset: the request was never read)
	got, _ = exchange(t, c.Addr, AppendFrame(nil, []byte("zpub")))
	if len(got) != 0 || time.Since(start) > time.Second {
		t.Fatalf("over the limit: %q after %v", got, time.Since(start))
	}
}

// TestServerPublicRequestTimeout: with a request timeout, a client that
// dribbles a byte at a time (each renewing the packet timeout) is closed
// when the whole request has taken too long.
func TestServerPublicRequestTimeout(t *testing.T) {
	_, c := startServer(t, Config{Public: &exportOnly{admit: 10}, PacketTimeout: time.Second, RequestTimeout: 1500 * time.Millisecond})
	conn, err := net.Dial("tcp", c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{0x0b, 0xf0}) // 3056 bytes to come
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		time.Sleep(400 * time.Millisecond)
		if _, err := conn.Write([]byte{'z'}); err != nil {
			break
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			break // closed
		}
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a dribbling client held its connection for %v (request timeout 1.5 s)", took)
	}
}
