package ui

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// keyOf returns the page key the login answer hands to the page (in the
// fragment of the URL it goes on to, which no server sees).
func keyOf(t *testing.T, u *UI, code string) (*http.Cookie, string) {
	t.Helper()
	w := get(u, "/ui/login?code="+code, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	m := regexp.MustCompile(`content="0;url=/ui/#key=([A-Za-z0-9_-]{40,})"`).FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("the login answer hands no key to the page:\n%s", w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == testCookie {
			if c.Value == m[1] {
				t.Fatal("the key is the cookie")
			}
			return c, m[1]
		}
	}
	t.Fatal("no session cookie")
	return nil, ""
}

// TestTheCookieAloneReadsNothing: browsers send a cookie of 127.0.0.1 to
// every port of 127.0.0.1 (cookies ignore ports), so any local user's web
// server on another loopback port, visited by the operator's browser,
// receives the session cookie. The cookie alone must not read the state:
// that takes the key the login handed to the page, which the browser
// keeps per origin (port included).
func TestTheCookieAloneReadsNothing(t *testing.T) {
	u, _ := newTestUI()
	code, _ := u.NewCode()
	c, key := keyOf(t, u, code)
	if w := get(u, "/ui/api/state", c); w.Code != http.StatusUnauthorized {
		t.Fatalf("the state with the cookie alone: %d %s", w.Code, w.Body)
	}
	if w := get(u, "/ui/api/state", c, KeyHeader, "wrong"); w.Code != http.StatusUnauthorized {
		t.Fatalf("the state with a wrong key: %d", w.Code)
	}
	if w := get(u, "/ui/api/state", nil, KeyHeader, key); w.Code != http.StatusUnauthorized {
		t.Fatalf("the state with the key alone: %d", w.Code)
	}
	// Another session's key does not go with this cookie.
	code2, _ := u.NewCode()
	c2, key2 := keyOf(t, u, code2)
	if w := get(u, "/ui/api/state", c, KeyHeader, key2); w.Code != http.StatusUnauthorized {
		t.Fatalf("a cookie with another session's key: %d", w.Code)
	}
	for _, s := range []struct {
		c   *http.Cookie
		key string
	}{{c, key}, {c2, key2}} {
		if w := get(u, "/ui/api/state", s.c, KeyHeader, s.key); w.Code != http.StatusOK {
			t.Fatalf("the state with the cookie and its key: %d %s", w.Code, w.Body)
		}
	}
}

// TestOnlyAddressesAndLocalhost: a page of another site whose name an
// attacker's DNS turns into 127.0.0.1 (DNS rebinding) is the same origin
// as its own name to the browser: the status page answers requests that
// name it by an IP address or localhost, nothing else.
func TestOnlyAddressesAndLocalhost(t *testing.T) {
	u, _ := newTestUI()
	code, _ := u.NewCode()
	c, key := keyOf(t, u, code)
	for _, host := range []string{"127.0.0.1:4370", "127.0.0.1", "[::1]:4370", "localhost:4370", "LOCALHOST", "10.1.2.3:80"} {
		// The cookie as the browser would have it there.
		r := newReq("/ui/api/state", &http.Cookie{Name: SessionCookie(host), Value: c.Value}, KeyHeader, key)
		r.Host = host
		if w := serve(u, r); w.Code != http.StatusOK {
			t.Errorf("Host %s: %d %s", host, w.Code, w.Body)
		}
	}
	for _, host := range []string{"rebind.attacker.example:4370", "attacker.example", "localhost.attacker.example:4370", "", "127.0.0.1.nip.io"} {
		for _, path := range []string{"/ui/api/state", "/ui/", "/ui/login?code=x"} {
			r := newReq(path, c, KeyHeader, key)
			r.Host = host
			if w := serve(u, r); w.Code != http.StatusMisdirectedRequest {
				t.Errorf("Host %q, %s: %d", host, path, w.Code)
			}
		}
	}
}

// TestRefusedLoginsDoNotFloodTheLog: /ui/login answers anyone, and any
// web page the operator's browser opens can make it ask thousands of
// times a second (an img per wrong code): the refusals are logged at most
// once a second, with how many there were.
func TestRefusedLoginsDoNotFloodTheLog(t *testing.T) {
	var logged bytes.Buffer
	clk := &clock{t: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}
	u := New(Config{State: func(context.Context) any { return nil }, Now: clk.now,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	for i := range 1000 {
		if w := get(u, "/ui/login?code=wrong"+strconv.Itoa(i), nil, "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusForbidden {
			t.Fatalf("a wrong code: %d", w.Code)
		}
	}
	if n := strings.Count(logged.String(), "login refused"); n != 1 {
		t.Fatalf("1000 refusals within a second logged %d lines:\n%.500s", n, logged.String())
	}
	clk.t = clk.t.Add(2 * time.Second)
	get(u, "/ui/login?code=wrong", nil)
	if n := strings.Count(logged.String(), "login refused"); n != 2 || !strings.Contains(logged.String(), "refused=1000") {
		t.Fatalf("the next second's refusal: %d lines, want 2 with the count of the 1000 before:\n%s", n, logged.String())
	}
}

// TestTwoGatewaysOfOneHost: a browser keeps one cookie jar per host, not
// per port (as net/http/cookiejar does): the status pages of two gateways
// of one host, open side by side, each keep their session.
func TestTwoGatewaysOfOneHost(t *testing.T) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	type gw struct {
		u   *UI
		srv *httptest.Server
		key string
	}
	var gws []*gw
	for _, site := range []string{"a", "b"} {
		u := New(Config{State: func(context.Context) any { return site }})
		g := &gw{u: u, srv: httptest.NewServer(u)}
		defer g.srv.Close()
		gws = append(gws, g)
	}
	for _, g := range gws {
		code, _ := g.u.NewCode()
		resp, err := c.Get(g.srv.URL + "/ui/login?code=" + code)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`#key=([A-Za-z0-9_-]+)"`).FindSubmatch(b)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("login: %s %s", resp.Status, b)
		}
		g.key = string(m[1])
	}
	for i, g := range gws {
		req, _ := http.NewRequest("GET", g.srv.URL+"/ui/api/state", nil)
		req.Header.Set(KeyHeader, g.key)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("gateway %d's page, after both logins: %s (the other's login took its cookie)", i, resp.Status)
		}
	}
}
