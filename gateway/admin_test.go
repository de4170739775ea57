package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/ui"
)

// client keeps no connection: the tests check for leaked goroutines.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// get asks a site's admin API, with the token when auth is set.
func get(t testing.TB, url string, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProbes: /healthz and /readyz answer without the token, on the admin
// listener and on admin.probes (which answers nothing else); /readyz says
// not ready, in counts alone, once a configured link is down.
func TestProbes(t *testing.T) {
	s := prepareSite(t, "site-a")
	s.cfg.Admin.Probes = "127.0.0.1:0"
	// A peer nobody answers for: its link goes down at the first dial.
	s.cfg.Peers = []PeerConfig{{Site: "site-z", TLS: Addrs{freeTCP(t)}, Identity: s.id.ID.String()}}
	s.cfg.Routes = []RouteConfig{{Match: "*@*.site-z.example", Site: "site-z", Transport: "tls"}}
	s.start(t)
	admin, probes := "http://"+s.gw.AdminAddr(), "http://"+s.gw.admin.probesAddr()
	for _, base := range []string{admin, probes} {
		if code, body := get(t, base+"/healthz", ""); code != 200 || body != "ok\n" {
			t.Fatalf("%s/healthz: %d %q", base, code, body)
		}
		if code, body := get(t, base+"/readyz", ""); code != 200 || body != "ready\n" {
			t.Fatalf("%s/readyz: %d %q", base, code, body)
		}
	}
	for _, path := range []string{"/v1/status", "/metrics", "/ui/"} {
		if code, _ := get(t, probes+path, s.gw.admin.token); code != http.StatusNotFound {
			t.Fatalf("the probes listener answered %s: %d", path, code)
		}
	}
	// A relay to site-z fails to dial: the link is down, the gateway not ready.
	if c, _, err := dialRemote(t, s, "y@n1.site-z.example", "x@n1.site-a.example"); err == nil {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		c.Read(make([]byte, 1))
		c.Close()
	}
	waitFor(t, "the link down", func() bool { code, _ := get(t, probes+"/readyz", ""); return code == 503 })
	_, body := get(t, probes+"/readyz", "")
	if body != "not ready: 1 of 1 links down\n" {
		t.Fatalf("readyz: %q (it names nothing but counts)", body)
	}
	refused := s.gw.events.Since(0, "y", 0)
	if len(refused) != 1 || refused[0].Kind != events.Refused || refused[0].Reason != events.NoLink {
		t.Fatalf("events: %+v", refused)
	}
}

// TestEventsFollow: GET /v1/events answers the kept events; with follow,
// it streams the next ones as they come, and ends when the gateway stops.
func TestEventsFollow(t *testing.T) {
	s := prepareSite(t, "site-a")
	s.start(t)
	base, token := "http://"+s.gw.AdminAddr(), s.gw.admin.token
	s.gw.events.Add(events.Event{Kind: events.Refused, Caller: "x@a", Target: "y@b", Reason: events.TargetUnknown})
	code, body := get(t, base+"/v1/events?node=y", token)
	var ans EventsAnswer
	if code != 200 || json.Unmarshal([]byte(body), &ans) != nil || len(ans.Events) != 1 || ans.Last != 1 {
		t.Fatalf("events: %d %s", code, body)
	}
	if code, _ := get(t, base+"/v1/events", ""); code != http.StatusUnauthorized {
		t.Fatalf("events without the token: %d", code)
	}
	req, _ := http.NewRequest("GET", base+"/v1/events?follow=1&since=1&node=w", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	s.gw.events.Add(events.Event{Kind: events.Ended, Caller: "x@a", Target: "y@b"}) // not w's
	s.gw.events.Add(events.Event{Kind: events.Ended, Caller: "x@a", Target: "w@b", Reason: events.LinkLost})
	if !lines.Scan() {
		t.Fatal("no event followed")
	}
	var e events.Event
	if json.Unmarshal(lines.Bytes(), &e) != nil || e.Target != "w@b" || e.Reason != events.LinkLost || e.Seq != 3 {
		t.Fatalf("followed %s", lines.Bytes())
	}
	done := make(chan struct{})
	go func() {
		for lines.Scan() {
		}
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go s.gw.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the follow did not end with the gateway")
	}
}

// TestStatusPageLogin: a login code from POST /v1/ui/login (token) opens
// a session for the page's state, which the token alone does not.
func TestStatusPageLogin(t *testing.T) {
	s := prepareSite(t, "site-a")
	s.start(t)
	base, token := "http://"+s.gw.AdminAddr(), s.gw.admin.token
	req, _ := http.NewRequest("POST", base+"/v1/ui/login", nil)
	if code := do(t, req); code != http.StatusUnauthorized {
		t.Fatalf("a login code without the token: %d", code)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var login UILogin
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if !strings.HasPrefix(login.Path, "/ui/login?code=") {
		t.Fatalf("login %+v", login)
	}
	if code, _ := get(t, base+"/ui/api/state", token); code != http.StatusUnauthorized {
		t.Fatalf("the page's state with the token alone: %d", code)
	}
	resp, err = client.Get(base + login.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		session = c
	}
	_, key, _ := strings.Cut(string(body), "url=/ui/#key=")
	key, _, _ = strings.Cut(key, `"`)
	if session == nil || key == "" {
		t.Fatalf("no session cookie or key: %v\n%s", session, body)
	}
	// The cookie alone, as a server on another loopback port would
	// receive it from the browser, reads nothing.
	req, _ = http.NewRequest("GET", base+"/ui/api/state", nil)
	req.AddCookie(session)
	if code := do(t, req); code != http.StatusUnauthorized {
		t.Fatalf("the page's state with the cookie alone: %d", code)
	}
	req.Header.Set(ui.KeyHeader, key)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page Page
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != 200 || page.Gateway.Site != "site-a" || !page.Ready {
		t.Fatalf("state: %s %+v", resp.Status, page.Gateway)
	}
	// The session opens the page, not the admin API.
	req, _ = http.NewRequest("GET", base+"/v1/status", nil)
	req.AddCookie(session)
	if code := do(t, req); code != http.StatusUnauthorized {
		t.Fatalf("/v1/status with the session: %d", code)
	}
}

// do sends a request and returns its status.
func do(t testing.TB, req *http.Request) int {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
