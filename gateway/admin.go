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
	"time"

	"github.com/distgate/distgate/gateway/datadir"
	"github.com/distgate/distgate/gateway/pki"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/relay"
)

// adminServer is the admin API: HTTP on loopback or a Unix socket, every
// request authorized by the bearer token in <data_dir>/admin.token.
type adminServer struct {
	g     *Gateway
	token string
	ln    net.Listener
	srv   *http.Server
	mux   *http.ServeMux
}

func newAdminServer(g *Gateway) (*adminServer, error) {
	tok, err := datadir.LoadOrCreateToken(g.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &adminServer{g: g, token: tok, mux: http.NewServeMux()}
	listen := g.cfg.Admin.Listen
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
	a.mux.HandleFunc("GET /v1/status", a.status)
	a.registerPolicyRoutes()
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{}))
	// Go's profiler, behind the same token: `go tool pprof` with
	// -http-header or curl -H "Authorization: Bearer ...".
	a.mux.HandleFunc("/debug/pprof/", pprof.Index)
	a.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	a.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	a.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.srv = &http.Server{Handler: a.auth(a.mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.serve(func() error { return fmt.Errorf("admin: %w", err) })
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

func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a.srv.Shutdown(ctx)
}

// Status is the answer of GET /v1/status.
type Status struct {
	Site        string          `json:"site"`
	Identity    string          `json:"identity"`
	Started     time.Time       `json:"started"`
	EPMD        string          `json:"epmd"`
	QUIC        string          `json:"quic"`
	TLS         string          `json:"tls"`
	CertExpires time.Time       `json:"cert_expires"`
	Certs       []pki.CertState `json:"certificates"`
	PublicEPMD  string          `json:"public_epmd"`
	Nodes       int             `json:"nodes"`
	Links       []LinkStatus    `json:"links"`
	Proxies     []ProxyStatus   `json:"proxies"`
	Relays      []relay.Status  `json:"relays"`
}

// Status returns the gateway's state.
func (g *Gateway) Status() Status {
	st := Status{
		Site: g.cfg.Site, Identity: g.identity.ID.String(), Started: g.started,
		EPMD: addrString(g.epmdLn), QUIC: netAddrString(g.links.QUICAddr()), TLS: netAddrString(g.links.TLSAddr()),
		CertExpires: g.certs.SiteExpiry(), Certs: g.certs.States(), PublicEPMD: addrString(g.publicLn),
		Links: g.links.status(), Proxies: g.proxies.status(), Relays: g.relays.Status(),
	}
	if g.epmd != nil {
		g.epmd.Registry(func(r *epmd.Registry) { st.Nodes = r.Len() })
	}
	return st
}

func (a *adminServer) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.g.Status())
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
