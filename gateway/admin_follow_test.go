package gateway

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distgate/distgate/gateway/events"
)

// newEventsOnly starts an admin server over an event log of size events.
func newEventsOnly(t *testing.T, size int) (*adminServer, *events.Log) {
	t.Helper()
	log := events.NewLog(size, nil, nil)
	a, err := newAdminServer("127.0.0.1:0", "", "token", adminDeps{
		metrics: prometheus.NewRegistry(), events: log, fail: func(err error) { t.Error(err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a, log
}

// TestFollowLosesNoEvent: events added while a follower writes the
// previous ones are sent next, not skipped.
func TestFollowLosesNoEvent(t *testing.T) {
	const n = 3000 // fewer than the ring holds: none falls out
	a, log := newEventsOnly(t, 4096)
	req, _ := http.NewRequest("GET", "http://"+a.addr()+"/v1/events?follow=1", nil)
	req.Header.Set("Authorization", "Bearer token")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		for i := range n {
			log.Add(events.Event{Kind: events.Refused, Caller: "x@h", Detail: strings.Repeat("d", i%300)})
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for want := uint64(1); want <= n; want++ {
		if !sc.Scan() {
			t.Fatalf("the follow ended before event %d: %v", want, sc.Err())
		}
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Seq != want {
			t.Fatalf("followed event %d, want %d: events in between were skipped", e.Seq, want)
		}
	}
}

// TestFollowDropsAStalledReader: a follower that stops reading while
// events come is dropped once its writes stall, instead of holding its
// goroutine, connection and a copy of the ring until the gateway stops.
func TestFollowDropsAStalledReader(t *testing.T) {
	defer func(d time.Duration) { followWriteTimeout = d }(followWriteTimeout)
	followWriteTimeout = 200 * time.Millisecond
	a, log := newEventsOnly(t, 4096)
	c, err := net.Dial("tcp", a.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /v1/events?follow=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token\r\n\r\n"))
	waitFor(t, "the follower", func() bool { return a.followers.Load() == 1 })
	big := strings.Repeat("x", 4000)
	for range 4000 { // 16 MB: more than the socket buffers hold
		log.Add(events.Event{Kind: events.Refused, Caller: "x@h", Detail: big})
	}
	deadline := time.Now().Add(30 * time.Second)
	for a.followers.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a follower that reads nothing is still served")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
