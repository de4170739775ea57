// Package ui serves distgate's status page on the admin API: the page and
// its assets, embedded in the binary (nothing is fetched from elsewhere),
// and the JSON it polls. It is read-only.
//
// Nobody types the admin token into a browser. `distgate ui`, which holds
// the token, asks the admin API for a one-time login code (NewCode) and
// opens /ui/login?code=...; the code, single-use and valid for a minute,
// opens a session kept in a cookie (HttpOnly, SameSite=Strict, expiring)
// whose value is a fresh random ID, never the token and never a value the
// browser chose. Every other /ui/ request needs that session; the bearer
// token does not open the page and the session opens nothing else of the
// admin API.
//
// The cookie alone reads nothing: browsers send a cookie of 127.0.0.1 to
// every port of 127.0.0.1, so any web server on another loopback port (a
// local user's) that the operator's browser visits receives it. The
// state also needs the session's key, which the login hands to the page
// in the fragment of the URL it goes on to (/ui/#key=..., never sent to a
// server) and the page keeps in its origin's storage (which other ports
// do not share) and sends in the KeyHeader header.
//
// Only requests that name the gateway by an IP address or localhost are
// answered: a page of another name that an attacker's DNS turns into
// 127.0.0.1 (DNS rebinding) is refused.
//
// Every answer carries a Content-Security-Policy that allows scripts,
// styles and connections to this origin only (no inline script, no
// eval, no frames), and the page builds its DOM with textContent and
// createElementNS: node names and policy log lines are the attackers'
// words and are never parsed as HTML.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"html"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// Defaults of Config.
const (
	DefaultCodeTTL    = time.Minute
	DefaultSessionTTL = 12 * time.Hour
)

// CookieName is the session cookie's name, followed by _PORT (the port
// the browser reached the gateway at; see SessionCookie); KeyHeader the
// header of the page's requests of the state that carries the session's
// key.
const (
	CookieName = "distgate_session"
	KeyHeader  = "X-Distgate-Key"
)

// Config is what the status page uses.
type Config struct {
	// State returns the page's data, as JSON (the gateway's view).
	State func(ctx context.Context) any
	// CodeTTL is how long a login code is valid; SessionTTL how long a
	// session lasts. Defaults when zero.
	CodeTTL, SessionTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// UI is the status page.
type UI struct {
	cfg      Config
	log      *slog.Logger
	sessions sessions
	static   fs.FS
	mux      *http.ServeMux

	refusedMu  sync.Mutex // guards the following: refused logins, logged once a second
	refusedLog time.Time  // when a refusal was last logged
	refused    int        // refusals since then, this one included
}

// New returns the status page.
func New(cfg Config) *UI {
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &UI{cfg: cfg, log: cfg.Logger, sessions: sessions{codeTTL: cfg.CodeTTL, sessionTTL: cfg.SessionTTL}, mux: http.NewServeMux()}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	u.static, _ = fs.Sub(assets, "assets") // a literal path: cannot fail
	u.mux.HandleFunc("GET /ui/login", u.login)
	u.mux.Handle("GET /ui/{$}", u.session(false, http.HandlerFunc(u.page)))
	u.mux.Handle("GET /ui/assets/", u.session(false, http.StripPrefix("/ui/assets/", http.FileServerFS(u.static))))
	u.mux.Handle("GET /ui/api/state", u.session(true, http.HandlerFunc(u.state)))
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			plain(w, http.StatusMethodNotAllowed, "the status page is read-only")
			return
		}
		plain(w, http.StatusNotFound, "not found")
	})
	return u
}

// NewCode returns a one-time login code for the page and when it expires.
func (u *UI) NewCode() (string, time.Time) { return u.sessions.newCode(u.cfg.Now()) }

// CSP is the Content-Security-Policy of every answer: this origin's
// scripts, styles, images and connections only; no inline script, no
// plugins, no frames, no forms, no base URI.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ServeHTTP serves /ui/..., with the security headers on every answer.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if !localHost(r.Host) {
		plain(w, http.StatusMisdirectedRequest, "the status page answers at an IP address or localhost: run `distgate ui` for its URL")
		return
	}
	// Browsers say where a request comes from: another site's page may
	// not even try (defence in depth; the cookie is SameSite=Strict). The
	// login may come from anywhere a link was clicked: its code is the
	// credential, and it goes on to /ui/ from this origin.
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" && r.URL.Path != "/ui/login" {
		plain(w, http.StatusForbidden, "cross-site requests are refused")
		return
	}
	u.mux.ServeHTTP(w, r)
}

// localHost reports whether a request's Host names the gateway by an IP
// address or localhost: names no DNS, an attacker's included, answers for.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return strings.EqualFold(host, "localhost")
}

// SessionCookie is the name of the session cookie of the status page
// reached at host (host:port): CookieName and the port. Browsers keep
// cookies by host, not port: the pages of two gateways of one host would
// otherwise each replace the other's session.
func SessionCookie(host string) string {
	if _, port, err := net.SplitHostPort(host); err == nil && port != "" {
		return CookieName + "_" + port
	}
	return CookieName
}

// session refuses requests without a live session, or, withKey, without
// its key.
func (u *UI) session(withKey bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(SessionCookie(r.Host))
		if err != nil || !u.sessions.valid(c.Value, withKey, r.Header.Get(KeyHeader), u.cfg.Now()) {
			plain(w, http.StatusUnauthorized, "no session: run `distgate ui` for a login link")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// login spends a one-time code and opens a session. The answer is a page
// that goes on to /ui/ from this origin, so that the SameSite=Strict
// cookie is sent even when the link was opened from elsewhere, with the
// session's key in the fragment (the page takes it from there).
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	now := u.cfg.Now()
	id, key, expires, ok := u.sessions.redeem(r.URL.Query().Get("code"), now)
	if !ok {
		u.logRefused(now, r.RemoteAddr)
		plain(w, http.StatusForbidden, "this login link is used or expired: run `distgate ui` for a new one")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie(r.Host), Value: id, Path: "/ui/", Expires: expires, MaxAge: int(expires.Sub(now) / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	u.log.Info("status page: session opened", "remote", r.RemoteAddr, "until", expires.Format(time.RFC3339))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	page := "/ui/#key=" + key // base64url: nothing to escape
	w.Write([]byte(`<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=` + page + `">` +
		`<link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml"><title>distgate</title></head><body>Signed in: <a href="` + page + `">open the status page</a>.</body></html>`))
}

// logRefused logs a refused login, at most once a second with the number
// of refusals since the last line: any web page the operator's browser
// opens, and any local user, may ask /ui/login thousands of times a
// second.
func (u *UI) logRefused(now time.Time, remote string) {
	u.refusedMu.Lock()
	u.refused++
	n := u.refused
	due := u.refusedLog.IsZero() || now.Sub(u.refusedLog) >= time.Second || now.Before(u.refusedLog)
	if due {
		u.refusedLog, u.refused = now, 0
	}
	u.refusedMu.Unlock()
	if due {
		u.log.Warn("status page: login refused (a code used, expired or wrong)", "remote", remote, "refused", n)
	}
}

func (u *UI) page(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(u.static, "index.html")
	if err != nil {
		plain(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

func (u *UI) state(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(u.cfg.State(r.Context())); err != nil {
		u.log.Debug("status page: writing the state", "err", err)
	}
}

// plain answers with a short text.
func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(html.EscapeString(strings.TrimSpace(msg)) + "\n"))
}
