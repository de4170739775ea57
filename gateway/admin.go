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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/wasm"
)

// adminServer is the admin API: HTTP on loopback or a Unix socket, every
// request authorized by the bearer token in <data_dir>/admin.token.
type adminServer struct {
	adminDeps
	token string
	ln    net.Listener
	srv   *http.Server
	mux   *http.ServeMux
	wg    sync.WaitGroup
}

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
	// lookup and authorize name the policies that decide lookups and
	// authorizations, for their role in the listings.
	lookup, authorize string
	// fail is told of the server's failure after it started.
	fail func(error)
}

// newAdminServer listens on listen and serves the API, authorized by
// token; close stops it.
func newAdminServer(listen, token string, d adminDeps) (*adminServer, error) {
	a := &adminServer{adminDeps: d, token: token, mux: http.NewServeMux()}
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
	a.srv = &http.Server{Handler: a.auth(a.mux), ReadHeaderTimeout: adminHeaderTimeout}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.fail(fmt.Errorf("admin: %w", err))
		}
	}()
	return a, nil
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
	ctx, cancel := context.WithTimeout(context.Background(), adminShutdownTimeout)
	defer cancel()
	if a.srv.Shutdown(ctx) != nil {
		a.srv.Close()
	}
	a.wg.Wait()
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
