package ui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestUI() (*UI, *clock) {
	c := &clock{t: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}
	u := New(Config{State: func(context.Context) any { return map[string]string{"site": "<b>x</b>"} }, Now: c.now})
	return u, c
}

func get(u *UI, path string, cookie *http.Cookie, hdr ...string) *httptest.ResponseRecorder {
	return serve(u, newReq(path, cookie, hdr...))
}

// testCookie is the session cookie's name at 127.0.0.1:4370, where
// newReq asks.
var testCookie = SessionCookie("127.0.0.1:4370")

// newReq is a GET of path at 127.0.0.1:4370, with cookie and the headers
// hdr (name, value, ...).
func newReq(path string, cookie *http.Cookie, hdr ...string) *http.Request {
	r := httptest.NewRequest("GET", path, nil)
	r.Host = "127.0.0.1:4370"
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

func serve(u *UI, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	u.ServeHTTP(w, r)
	return w
}

// login spends a code and returns the session cookie.
func login(t *testing.T, u *UI, code string) *http.Cookie {
	t.Helper()
	w := get(u, "/ui/login?code="+code, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == testCookie {
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

func TestLoginOpensASession(t *testing.T) {
	u, _ := newTestUI()
	code, _ := u.NewCode()
	c, key := keyOf(t, u, code)
	if c.Name != CookieName+"_4370" {
		t.Fatalf("cookie %s: want the port in its name", c.Name)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.MaxAge <= 0 || c.MaxAge > int(DefaultSessionTTL/time.Second) {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path /ui/, an expiry", c)
	}
	if c.Value == code || len(c.Value) < 40 {
		t.Fatalf("the session ID is the code or short: %q", c.Value)
	}
	for _, path := range []string{"/ui/", "/ui/api/state", "/ui/assets/app.js", "/ui/assets/app.css"} {
		if w := get(u, path, c, KeyHeader, key); w.Code != http.StatusOK {
			t.Fatalf("%s with the session: %d %s", path, w.Code, w.Body)
		}
	}
	if w := get(u, "/ui/api/state", c, KeyHeader, key); !strings.Contains(w.Body.String(), `\u003cb\u003ex`) || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("state: %s %v", w.Body, w.Header())
	}
}

func TestRefusals(t *testing.T) {
	u, clk := newTestUI()
	code, _ := u.NewCode()
	// Without a session, or with a session the browser made up, nothing
	// but the login answers.
	for _, c := range []*http.Cookie{nil, {Name: testCookie, Value: "made-up"}, {Name: testCookie, Value: code}} {
		for _, path := range []string{"/ui/", "/ui/api/state", "/ui/assets/app.js"} {
			if w := get(u, path, c); w.Code != http.StatusUnauthorized {
				t.Fatalf("%s with cookie %v: %d", path, c, w.Code)
			}
		}
	}
	c, key := keyOf(t, u, code)
	// The code is single-use.
	if w := get(u, "/ui/login?code="+code, nil); w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Fatalf("a code spent twice: %d", w.Code)
	}
	// A code expires.
	late, _ := u.NewCode()
	clk.t = clk.t.Add(DefaultCodeTTL + time.Second)
	if w := get(u, "/ui/login?code="+late, nil); w.Code != http.StatusForbidden {
		t.Fatalf("an expired code: %d", w.Code)
	}
	if w := get(u, "/ui/login", nil); w.Code != http.StatusForbidden {
		t.Fatalf("no code: %d", w.Code)
	}
	// Another site's page may not use the session, but a login link may
	// be clicked anywhere.
	if w := get(u, "/ui/api/state", c, "Sec-Fetch-Site", "cross-site", KeyHeader, key); w.Code != http.StatusForbidden {
		t.Fatalf("cross-site: %d", w.Code)
	}
	fresh, _ := u.NewCode()
	if w := get(u, "/ui/login?code="+fresh, nil, "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusOK {
		t.Fatalf("a login link clicked on another site: %d", w.Code)
	}
	// Read-only.
	r := httptest.NewRequest("POST", "/ui/api/state", strings.NewReader("{}"))
	r.Host = "127.0.0.1:4370"
	r.AddCookie(c)
	w := httptest.NewRecorder()
	u.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", w.Code)
	}
	// A session expires.
	if w := get(u, "/ui/api/state", c, KeyHeader, key); w.Code != http.StatusOK {
		t.Fatalf("a live session: %d", w.Code)
	}
	clk.t = clk.t.Add(DefaultSessionTTL)
	if w := get(u, "/ui/api/state", c, KeyHeader, key); w.Code != http.StatusUnauthorized {
		t.Fatalf("an expired session: %d", w.Code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	u, _ := newTestUI()
	for _, path := range []string{"/ui/", "/ui/login?code=x", "/ui/nothing"} {
		h := get(u, path, nil).Header()
		if h.Get("Content-Security-Policy") != CSP || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: headers %v", path, h)
		}
	}
	if strings.Contains(CSP, "unsafe") || !strings.Contains(CSP, "default-src 'none'") {
		t.Fatal(CSP)
	}
}

func TestCodesAndSessionsAreBounded(t *testing.T) {
	u, _ := newTestUI()
	first, _ := u.NewCode()
	for range maxCodes {
		u.NewCode()
	}
	if w := get(u, "/ui/login?code="+first, nil); w.Code != http.StatusForbidden {
		t.Fatal("the oldest code outlived the cap")
	}
	code, _ := u.NewCode()
	c := login(t, u, code)
	for range maxSessions {
		code, _ := u.NewCode()
		login(t, u, code)
	}
	if w := get(u, "/ui/", c); w.Code != http.StatusUnauthorized {
		t.Fatal("the oldest session outlived the cap")
	}
}
