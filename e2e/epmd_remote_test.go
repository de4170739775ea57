package e2e

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestNonLocalPeersMatchStockEpmd: from an address that is not loopback
// and not the daemon's own, registration, DUMP, KILL and STOP are closed
// silently, while PORT_PLEASE2 and NAMES are answered — by OTP's epmd and
// by distgate alike.
func TestNonLocalPeersMatchStockEpmd(t *testing.T) {
	ns := newNetns(t)
	stock, _ := startStockEpmd(t, "-address", ns.Host, "-relaxed_command_check")
	ours, _ := startDistgateEpmd(t, "-address", ns.Host, "-relaxed_command_check")
	cases := []rawCase{
		{"alive2", frame(alive2("remote", 6, nil))},
		{"dump", frame([]byte("d"))},
		{"kill", frame([]byte("k"))},
		{"stop", frame([]byte("sheld"))},
		{"names", frame([]byte("n"))},
		{"port_please2", frame([]byte("zheld"))},
		{"port_please2 unknown", frame([]byte("znosuch"))},
	}
	t0 := time.Now()
	for _, port := range []int{stock, ours} {
		s := newSession(t, port)
		s.register("h", "held", 6)
	}
	for _, tc := range cases {
		var got [2]string
		for i, port := range []int{stock, ours} {
			c, err := ns.dialFrom(net.JoinHostPort(ns.Host, strconv.Itoa(port)))
			if err != nil {
				t.Fatalf("dial from the namespace: %v", err)
			}
			c.Write(tc.raw)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(c)
			c.Close()
			got[i] = fmt.Sprintf("%s err=%v", normalise(b, port, t0), err)
		}
		if got[0] != got[1] {
			t.Errorf("%s from %s:\n stock epmd: %s\n distgate:   %s", tc.name, ns.Peer, got[0], got[1])
		}
		t.Logf("%s: %s", tc.name, got[1])
	}
	// Both daemons still run and still hold "held": KILL and STOP were refused.
	for _, port := range []int{stock, ours} {
		if reply, _ := rawExchange(t, port, frame([]byte("zheld")), time.Second); len(reply) < 2 || reply[1] != 0 {
			t.Fatalf("daemon on %d lost held after remote KILL/STOP: %q", port, reply)
		}
	}
}
