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
// post-quantum); one from a hybrid handshake is.
func TestTicketOfAClassicalHandshake(t *testing.T) {
	const name = "site-b"
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
	client := tls.Client(cs, &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, ClientSessionCache: cache})
	client.SetDeadline(time.Now().Add(10 * time.Second))
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Read(make([]byte, 1)); err != nil { // takes the ticket in
		t.Fatal(err)
	}
	curve := client.ConnectionState().CurveID
	if cache.fullHandshake(name, curve) {
		t.Fatalf("a %v handshake counted as post-quantum", curve)
	}
	if cache.holds(name, time.Now()) {
		t.Error("a ticket of a classical handshake is offered with a classical key share")
	}
	if !cache.fullHandshake(name, tls.X25519MLKEM768) || !cache.holds(name, time.Now()) {
		t.Error("a ticket after a hybrid handshake is not offered")
	}
	if cache.holds(name, time.Now().Add(ticketLifetime)) {
		t.Error("a ticket past its lifetime is offered")
	}
}
