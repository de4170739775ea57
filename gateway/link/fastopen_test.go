package link

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// TestTicketOfAClassicalHandshake: a ticket from a peer whose full
// handshake was classical (it offers no ML-KEM) is not resumed with a
// classical key share and Fast Open (its traffic would not be
// post-quantum); one from a hybrid handshake is; and tickets are kept per
// edge.
func TestTicketOfAClassicalHandshake(t *testing.T) {
	const name, edge, other = "site-b", "198.18.0.2:4371", "198.18.0.3:4371"
	key := edgeTicketKey(edge, name)
	cert := newStaticCert(t)
	cache := newTicketCache(4)
	cs, ss := net.Pipe()
	defer cs.Close()
	defer ss.Close()
	server := tls.Server(ss, &tls.Config{Certificates: []tls.Certificate{cert.cert}, MinVersion: tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519}}) // a peer without ML-KEM
	go func() {
		if server.Handshake() == nil {
			server.Write([]byte{1}) // after the session ticket
		}
	}()
	client := tls.Client(cs, &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, ClientSessionCache: cache.at(edge)})
	client.SetDeadline(time.Now().Add(10 * time.Second))
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Read(make([]byte, 1)); err != nil { // takes the ticket in
		t.Fatal(err)
	}
	curve := client.ConnectionState().CurveID
	if cache.fullHandshake(key, curve) {
		t.Fatalf("a %v handshake counted as post-quantum", curve)
	}
	if cache.holds(key, time.Now()) {
		t.Error("a ticket of a classical handshake is offered with a classical key share")
	}
	if !cache.fullHandshake(key, tls.X25519MLKEM768) || !cache.holds(key, time.Now()) {
		t.Error("a ticket after a hybrid handshake is not offered")
	}
	if cache.holds(key, time.Now().Add(ticketLifetime)) {
		t.Error("a ticket past its lifetime is offered")
	}
	// Another edge of the same site has ticket keys of its own: it is not
	// offered this edge's ticket.
	cache.fullHandshake(edgeTicketKey(other, name), tls.X25519MLKEM768)
	if cache.holds(edgeTicketKey(other, name), time.Now()) {
		t.Error("one edge's ticket is held for another edge of the site")
	}
	if _, ok := cache.at(other).Get(name); ok {
		t.Error("one edge's ticket is offered to another edge of the site")
	}
	if _, ok := cache.at(edge).Get(name); !ok {
		t.Error("the edge's own ticket is not offered to it")
	}
}
