package wanem

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func TestParseNetDev(t *testing.T) {
	text := []byte(`Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1234      10    0    0    0     0          0         0     1234      10    0    0    0     0       0          0
  wan0: 5000000    4000    0    7    0     0          0         0  6000000    4500    0   42    0     0       0          0
`)
	rx, tx, err := parseNetDev(text, "wan0")
	if err != nil || rx != 7 || tx != 42 {
		t.Errorf("parseNetDev wan0 = %d, %d, %v; want 7, 42", rx, tx, err)
	}
	if _, _, err := parseNetDev(text, "wan1"); err == nil {
		t.Error("parseNetDev wan1: no error for a device not listed")
	}
	if _, _, err := parseNetDev([]byte("  wan0: 1 2 3\n"), "wan0"); err == nil {
		t.Error("parseNetDev of a short line: no error")
	}
}

// TestStatsAfterClose checks that the counters outlive Close, which is
// idempotent, and that the devices are gone.
func TestStatsAfterClose(t *testing.T) {
	t.Parallel()
	tb := startTestbed(t, TestbedConfig{})
	p := newPinger(t, tb.A)
	if _, err := p.ping(tb.B.Addr.String(), 1, 10, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tb.Emulator.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tb.Emulator.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	st := tb.Emulator.Stats()
	if st.AB.Delivered < 1 || st.BA.Delivered < 1 {
		t.Errorf("stats after Close: %v; want the ping and its reply counted", st)
	}
	// Closing a TUN descriptor unregisters its device, but the kernel may
	// list it a little longer while its last references drop (seen under
	// load): nothing to await but the listing itself, polled for 5 s.
	err := tb.A.Do(func() error {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := net.InterfaceByName(DefaultDev); err != nil {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s still exists 5 s after Close", DefaultDev)
			}
		}
	})
	if err != nil {
		t.Error(err)
	}
}
