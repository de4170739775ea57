package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newProbesOnly starts an admin server with a probes listener and nothing
// else behind it.
func newProbesOnly(t *testing.T, ready func() (bool, string)) *adminServer {
	t.Helper()
	a, err := newAdminServer("127.0.0.1:0", "127.0.0.1:0", "token", adminDeps{
		metrics: prometheus.NewRegistry(), ready: ready, fail: func(err error) { t.Error(err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

// closedByServer reads c until the server closes it; it fails the test
// when the connection is still open after a generous while (the server
// never closes it).
func closedByServer(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: the probes listener kept the connection open", what)
	}
}

// TestProbesListenerKeepsNoIdleConnection: the probes listener faces
// strangers (load balancers' networks). A connection that asked once and
// then sits idle is closed, so that idle keep-alive connections cannot
// pile up until the gateway runs out of file descriptors.
func TestProbesListenerKeepsNoIdleConnection(t *testing.T) {
	defer func(d time.Duration) { probesIdleTimeout = d }(probesIdleTimeout)
	probesIdleTimeout = 100 * time.Millisecond
	a := newProbesOnly(t, func() (bool, string) { return true, "" })
	c, err := net.Dial("tcp", a.probesAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	closedByServer(t, c, "an idle keep-alive connection")
}

// TestProbesListenerBoundsConnections: one source holds at most
// probesPerAddr connections of the probes listener (asked once and kept
// alive, the cheapest way to hold them); the next is closed unanswered.
func TestProbesListenerBoundsConnections(t *testing.T) {
	a := newProbesOnly(t, func() (bool, string) { return true, "" })
	probe := func(c net.Conn) (*http.Response, error) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
		}
		return resp, err
	}
	for i := range probesPerAddr {
		c, err := net.Dial("tcp", a.probesAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if resp, err := probe(c); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i, resp, err)
		}
	}
	extra, err := net.Dial("tcp", a.probesAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if resp, err := probe(extra); err == nil {
		t.Fatalf("connection %d of one source was answered: %s", probesPerAddr+1, resp.Status)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a connection past the cap was neither answered nor closed")
	}
}

// TestReadyzIsCached: a flood of /readyz does not run a readiness check
// (a connection to the EPMD) each: concurrent and close probes share one.
func TestReadyzIsCached(t *testing.T) {
	var calls atomic.Int32
	a := newProbesOnly(t, func() (bool, string) { calls.Add(1); return false, "1 of 2 links down" })
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	base := "http://" + a.probesAddr()
	for range 5 {
		if code, body := get(t, base+"/readyz", ""); code != 503 || body != "not ready: 1 of 2 links down\n" {
			t.Fatalf("readyz: %d %q", code, body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("5 probes within a second ran %d readiness checks", n)
	}
	now = now.Add(2 * readyzCacheFor)
	get(t, base+"/readyz", "")
	if n := calls.Load(); n != 2 {
		t.Fatalf("a probe after the cache expired ran %d checks in all, want 2", n)
	}
}
