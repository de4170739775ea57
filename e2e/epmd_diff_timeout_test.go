package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A request dribbled under -packet_timeout: OTP's epmd notes the second of
// each byte and checks at its select() wake-ups (every second below 5 s,
// every 5 s from 5 s up), so a daemon serving one client tolerates a pause
// up to the timeout + 1 s (1..4 s) or up to the next multiple of 5 s above
// it, and closes a connection that timed out with a FIN, never a reset.
// Every pause below keeps at least half a second from those edges; what is
// compared is what the client sees, not when.

// dribbleStep is a pause, then bytes sent at once.
type dribbleStep struct {
	pause time.Duration
	send  []byte
}

// dribble sends steps on a new connection, watching the connection during
// each pause, and describes what the daemon did: the reply and how the
// connection ended, or the pause during which the daemon closed it.
func dribble(port int, steps []dribbleStep) string {
	c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	ended := func(err error) string {
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF):
			return "FIN"
		case errors.Is(err, syscall.ECONNRESET):
			return "RST"
		case errors.As(err, &ne) && ne.Timeout():
			return "still open"
		}
		return err.Error()
	}
	buf := make([]byte, 64)
	for i, st := range steps {
		if st.pause > 0 {
			c.SetReadDeadline(time.Now().Add(st.pause))
			n, err := c.Read(buf)
			if n > 0 {
				return fmt.Sprintf("sent %q during pause %d", buf[:n], i+1)
			}
			if how := ended(err); how != "still open" {
				return fmt.Sprintf("closed with %s during pause %d", how, i+1)
			}
		}
		if _, err := c.Write(st.send); err != nil {
			return fmt.Sprintf("write after pause %d: %v", i+1, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	reply, err := io.ReadAll(c)
	if err == nil {
		err = io.EOF
	}
	return fmt.Sprintf("answered %q, then %s", reply, ended(err))
}

// TestDribbleMatchesStockEpmd runs each dribble against its own stock
// epmd and its own distgate (an epmd busy with another client checks its
// timeouts at other moments), all at once: the test takes as long as its
// longest case.
func TestDribbleMatchesStockEpmd(t *testing.T) {
	t.Parallel()
	s := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	req := frame([]byte("zheld")) // 7 bytes
	pauses := func(first []byte, gap time.Duration, rest ...[]byte) []dribbleStep {
		steps := []dribbleStep{{0, first}}
		for _, b := range rest {
			steps = append(steps, dribbleStep{gap, b})
		}
		return steps
	}
	byteEach := func(gap time.Duration) []dribbleStep {
		var rest [][]byte
		for _, b := range req[1:] {
			rest = append(rest, []byte{b})
		}
		return pauses(req[:1], gap, rest...)
	}
	const answered, closed = "answered", "closed"
	cases := []struct {
		name    string
		timeout string
		steps   []dribbleStep
		want    string // what the stock epmd is expected to do
	}{
		{"a byte a second, six timeouts in all", "1", byteEach(time.Second), answered},
		{"pauses of 1.5 s, past the timeout but not epmd's next check", "1", pauses(req[:2], s(1.5), req[2:4], req[4:6], req[6:]), answered},
		{"a pause of 2.6 s", "1", pauses(req[:3], s(2.6), req[3:]), closed},
		{"silent for 1.5 s, then the request", "1", []dribbleStep{{s(1.5), req}}, answered},
		{"silent for 2.6 s", "1", []dribbleStep{{s(2.6), req}}, closed},
		{"pauses of 2.5 s", "2", pauses(req[:3], s(2.5), req[3:5], req[5:]), answered},
		{"a pause of 3.6 s", "2", pauses(req[:3], s(3.6), req[3:]), closed},
		{"a pause of 7.5 s, epmd checking every 5 s", "5", pauses(req[:4], s(7.5), req[4:]), answered},
		{"a pause of 11 s, epmd checking every 5 s", "5", pauses(req[:4], s(11), req[4:]), closed},
		{"a pause of 2.6 s under -packet_timeout -1 (2^32-1 s)", "-1", pauses(req[:1], s(2.6), req[1:]), answered},
	}
	type daemons struct{ stock, ours int }
	ds := make([]daemons, len(cases))
	for i, tc := range cases {
		ds[i].stock, _ = startStockEpmd(t, "-packet_timeout", tc.timeout)
		ds[i].ours, _ = startDistgateEpmd(t, "-packet_timeout", tc.timeout)
		newSession(t, ds[i].stock).register("h", "held", 6)
		newSession(t, ds[i].ours).register("h", "held", 6)
	}
	got := make([][2]string, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		for j, port := range []int{ds[i].stock, ds[i].ours} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i][j] = dribble(port, tc.steps)
			}()
		}
	}
	wg.Wait()
	for i, tc := range cases {
		stock, ours := got[i][0], got[i][1]
		t.Logf("-packet_timeout %s, %s: %s", tc.timeout, tc.name, stock)
		if stock != ours {
			t.Errorf("-packet_timeout %s, %s:\n stock epmd: %s\n distgate:   %s", tc.timeout, tc.name, stock, ours)
		}
		if len(stock) < len(tc.want) || stock[:len(tc.want)] != tc.want {
			t.Errorf("-packet_timeout %s, %s: the stock epmd %s, want %s", tc.timeout, tc.name, stock, tc.want)
		}
	}
}
