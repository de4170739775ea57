package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/distgate/distgate/gateway/admit"
	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/ui"
	"github.com/distgate/distgate/wasm"
)

// adminServer is the admin API: HTTP on loopback or a Unix socket, every
// request authorized by the bearer token in <data_dir>/admin.token, but
// the probes (/healthz, /readyz: the state and nothing else) and the
// status page (/ui/: its own sessions, see package ui). The probes may
// also have a listener of their own.
type adminServer struct {
	adminDeps
	token     string
	ln        net.Listener
	srv       *http.Server
	mux       *http.ServeMux
	probesLn  net.Listener // nil without admin.probes
	probes    *http.Server
	ctx       context.Context // ends at close: long requests (events -follow) end with it
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	now       func() time.Time // the clock of the readiness cache
	followers atomic.Int64     // GET /v1/events?follow in progress

	readyMu sync.Mutex // guards the following: the latest readiness check
	readyAt time.Time
	readyOK bool
	readyNo string
}

// The probes listener faces strangers: load balancers' networks, maybe
// more. A source (an IPv4 address, an IPv6 /64) may hold probesPerAddr
// connections, its networks more (see package admit), all sources
// probesTotal (past it, the oldest connection is closed for the new one).
// The rate is only a ceiling: an answer costs little (/readyz is cached)
// and monitors poll fast. A connection gets
// probesRequestTimeout to send its request and read the answer and is
// closed after probesIdleTimeout without a next one; a request's header
// is at most probesMaxHeader bytes.
const (
	probesRate           = 1000.0
	probesBurst          = 1000
	probesPerAddr        = 16
	probesTotal          = 256
	probesMaxSources     = 100_000
	probesRequestTimeout = 10 * time.Second
	probesMaxHeader      = 8 << 10
)

// probesIdleTimeout closes a probe's (and an admin client's) connection
// idle between requests: a variable for the tests.
var probesIdleTimeout = 30 * time.Second

// readyzCacheFor is how long one readiness check (a connection to the
// EPMD, the links' states) answers /readyz: however many probes come, the
// EPMD sees at most one such connection a second.
const readyzCacheFor = time.Second

// adminDeps is what the admin API serves.
type adminDeps struct {
	status   func() Status // the gateway's
	engine   *wasm.Engine
	policies *policyRouter
	shared   *policySync          // the site's shared policies; nil for a standalone gateway
	dir      *directory.Directory // the site directory; nil for a standalone gateway
	logs     *policyLogs
	nodes    *nodes
	metrics  *prometheus.Registry
	// lookup, authorize and filter name the policies that decide lookups,
	// authorizations and distribution messages, for their role in the
	// listings.
	lookup, authorize, filter string
	// fail is told of the server's failure after it started.
	fail func(error)
	// events is the event log; ready says whether the gateway serves and
	// why not; ui is the status page; decisionP99 is a policy's 99th
	// percentile decision time (0: none yet).
	events      *events.Log
	ready       func() (bool, string)
	ui          *ui.UI
	decisionP99 func(policy string) time.Duration
}

// newAdminServer listens on listen and serves the API, authorized by
// token; close stops it.
func newAdminServer(listen, probes, token string, d adminDeps) (*adminServer, error) {
	a := &adminServer{adminDeps: d, token: token, mux: http.NewServeMux(), now: time.Now}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	var err error
	if path, ok := strings.CutPrefix(listen, "unix:"); ok {
		os.Remove(path)
		a.ln, err = net.Listen("unix", path)
		if err == nil {
			os.Chmod(path, 0o600)
		}
	} else {
		a.ln, err = net.Listen("tcp", listen)
	}
	if err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	a.mux.HandleFunc("GET /v1/status", a.getStatus)
	a.mux.HandleFunc("GET /v1/events", a.getEvents)
	a.mux.HandleFunc("POST /v1/ui/login", a.uiLogin)
	a.registerPolicyRoutes()
	a.registerSiteRoutes()
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics, promhttp.HandlerOpts{}))
	// Go's profiler, behind the same token: `go tool pprof` with
	// -http-header or curl -H "Authorization: Bearer ...".
	a.mux.HandleFunc("/debug/pprof/", pprof.Index)
	a.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	a.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	a.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.srv = &http.Server{Handler: a.route(a.auth(a.mux)), ReadHeaderTimeout: adminHeaderTimeout, IdleTimeout: probesIdleTimeout,
		BaseContext: func(net.Listener) context.Context { return a.ctx }}
	if probes != "" {
		if a.probesLn, err = net.Listen("tcp", probes); err != nil {
			a.ln.Close()
			return nil, fmt.Errorf("admin.probes: %w", err)
		}
		pm := http.NewServeMux()
		pm.HandleFunc("GET /healthz", a.healthz)
		pm.HandleFunc("GET /readyz", a.readyz)
		a.probes = &http.Server{Handler: pm, ReadHeaderTimeout: adminHeaderTimeout, ReadTimeout: probesRequestTimeout,
			WriteTimeout: probesRequestTimeout, IdleTimeout: probesIdleTimeout, MaxHeaderBytes: probesMaxHeader}
		lim := admit.New(admit.Limits{Rate: probesRate, Burst: probesBurst, PerSource: probesPerAddr, Total: probesTotal,
			MaxSources: probesMaxSources})
		a.serve(a.probes, &admitListener{Listener: a.probesLn, limit: lim}, "admin.probes")
	}
	a.serve(a.srv, a.ln, "admin")
	return a, nil
}

// serve runs srv on ln until close.
func (a *adminServer) serve(srv *http.Server, ln net.Listener, what string) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.fail(fmt.Errorf("%s: %w", what, err))
		}
	}()
}

// admitListener admits a listener's connections by a Limiter: a refused
// connection is closed at once; when all are taken, the oldest goes.
type admitListener struct {
	net.Listener
	limit *admit.Limiter
}

func (l *admitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		t, err := l.limit.Admit(remoteIP(c), time.Now(), func() { c.Close() })
		if err != nil {
			c.Close()
			continue
		}
		return &admittedConn{Conn: c, ticket: t}, nil
	}
}

// admittedConn gives its ticket back when closed.
type admittedConn struct {
	net.Conn
	ticket *admit.Ticket
}

func (c *admittedConn) Close() error {
	err := c.Conn.Close()
	c.ticket.Done()
	return err
}

// route sends the probes and the status page past the bearer token.
func (a *adminServer) route(authed http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz" && r.Method == http.MethodGet:
			a.healthz(w, r)
		case r.URL.Path == "/readyz" && r.Method == http.MethodGet:
			a.readyz(w, r)
		case strings.HasPrefix(r.URL.Path, "/ui/") && a.ui != nil:
			a.ui.ServeHTTP(w, r)
		default:
			authed.ServeHTTP(w, r)
		}
	})
}

func (a *adminServer) addr() string {
	if a.ln.Addr().Network() == "unix" {
		return "unix:" + a.ln.Addr().String()
	}
	return a.ln.Addr().String()
}

// handle adds a route to the admin API.
func (a *adminServer) handle(pattern string, h http.HandlerFunc) { a.mux.HandleFunc(pattern, h) }

// auth refuses requests without the right bearer token.
func (a *adminServer) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="distgate"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (see admin.token in the data directory)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// close stops the server, giving requests in progress a moment, and waits
// for it.
func (a *adminServer) close() {
	a.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), adminShutdownTimeout)
	defer cancel()
	if a.srv.Shutdown(ctx) != nil {
		a.srv.Close()
	}
	if a.probes != nil && a.probes.Shutdown(ctx) != nil {
		a.probes.Close()
	}
	a.wg.Wait()
}

// probesAddr returns where the probes' own listener is ("" without one).
func (a *adminServer) probesAddr() string {
	if a.probesLn == nil {
		return ""
	}
	return a.probesLn.Addr().String()
}

func (a *adminServer) getStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.status())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}
