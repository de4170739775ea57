package freeport

import "testing"

// TestTCP: the ports handed out lie below the ephemeral range, where no
// connection takes one, are free, and are not handed out twice.
func TestTCP(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		port, err := TCP()
		if err != nil {
			t.Fatal(err)
		}
		if low := min(bandHigh, ephemeralLow()); low-bandLow >= slots && (port < bandLow || port >= low) {
			t.Errorf("port %d is not in [%d, %d)", port, bandLow, low)
		}
		if seen[port] || !CanListen("tcp4", "127.0.0.1", port) {
			t.Errorf("port %d handed out twice, or taken", port)
		}
		seen[port] = true
	}
}

func TestLink(t *testing.T) {
	port, err := Link()
	if err != nil || !CanListen("tcp4", "127.0.0.1", port) || !CanListen("udp4", "127.0.0.1", port) {
		t.Errorf("Link = %d, %v: not free for TCP and UDP", port, err)
	}
}
