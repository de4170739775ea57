package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/wasm"
)

// PolicyView is a policy as the admin API shows it.
type PolicyView struct {
	Name     string         `json:"name"`
	Role     string         `json:"role,omitempty"` // "lookup", "authorize", "filter", or several: "lookup, authorize"
	Active   *wasm.Version  `json:"active,omitempty"`
	Versions []wasm.Version `json:"versions"`
	Stats    wasm.Stats     `json:"stats"`
	// DecisionP99 is the 99th percentile of the decisions' time since the
	// start (0 before any), from distgate_policy_decision_seconds.
	DecisionP99 time.Duration `json:"decision_p99_ns"`
	Error       string        `json:"error,omitempty"`
}

func (a *adminServer) policyView(info wasm.PolicyInfo) PolicyView {
	v := PolicyView{Name: info.Name, Versions: info.Versions, Stats: info.Stats}
	if a.decisionP99 != nil {
		v.DecisionP99 = a.decisionP99(info.Name)
	}
	for i := range v.Versions {
		v.Versions[i].Config = nil // shown by seq and hash; configs can be large
	}
	if info.Active.Seq != 0 {
		a := info.Active
		a.Config = nil
		v.Active = &a
	}
	if info.Err != nil {
		v.Error = info.Err.Error()
	}
	var roles []string
	for _, r := range []struct{ name, role string }{{a.lookup, "lookup"}, {a.authorize, "authorize"}, {a.filter, "filter"}} {
		if info.Name == r.name {
			roles = append(roles, r.role)
		}
	}
	v.Role = strings.Join(roles, ", ")
	return v
}

func (a *adminServer) registerPolicyRoutes() {
	a.handle("GET /v1/policies", a.listPolicies)
	a.handle("GET /v1/policies/{name}", a.getPolicy)
	a.handle("POST /v1/policies/{name}", a.pushPolicy)
	a.handle("DELETE /v1/policies/{name}", a.removePolicy)
	a.handle("POST /v1/policies/{name}/activate", a.activatePolicy)
	a.handle("POST /v1/policies/{name}/rollback", a.rollbackPolicy)
	a.handle("POST /v1/policies/{name}/test", a.testPolicy)
	a.handle("GET /v1/policies/{name}/logs", a.policyLogs)
}

func (a *adminServer) listPolicies(w http.ResponseWriter, _ *http.Request) {
	infos := a.engine.Policies()
	out := make([]PolicyView, 0, len(infos))
	for _, info := range infos {
		out = append(out, a.policyView(info))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *adminServer) getPolicy(w http.ResponseWriter, r *http.Request) {
	info, err := a.engine.Policy(r.PathValue("name"))
	if err != nil {
		writePolicyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.policyView(info))
}

// pushPolicy installs an upload: multipart form fields "module" (the
// WebAssembly binary) and "config" (optional, opaque bytes).
func (a *adminServer) pushPolicy(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(maxUpload); err != nil {
		writeError(w, http.StatusBadRequest, "want a multipart form with a module file (and a config file): "+err.Error())
		return
	}
	module, err := formFile(r, "module")
	if err != nil || len(module) == 0 {
		writeError(w, http.StatusBadRequest, "the form has no module file")
		return
	}
	config, _ := formFile(r, "config")
	v, err := a.engine.Install(r.Context(), r.PathValue("name"), module, config)
	a.policies.refresh()
	if err != nil {
		writePolicyError(w, err)
		return
	}
	a.share(w, r, r.PathValue("name"))
	v.Config = nil
	writeJSON(w, http.StatusCreated, v)
}

func formFile(r *http.Request, field string) ([]byte, error) {
	f, _, err := r.FormFile(field)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (a *adminServer) removePolicy(w http.ResponseWriter, r *http.Request) {
	err := a.engine.Remove(r.PathValue("name"))
	a.policies.refresh()
	if err != nil {
		writePolicyError(w, err)
		return
	}
	a.share(w, r, r.PathValue("name"))
	w.WriteHeader(http.StatusNoContent)
}

func (a *adminServer) activatePolicy(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Version int `json:"version"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil || body.Version <= 0 {
		writeError(w, http.StatusBadRequest, `want {"version": N}`)
		return
	}
	v, err := a.engine.Activate(r.Context(), r.PathValue("name"), body.Version)
	a.policies.refresh() // the filter's cached verdicts go
	if err != nil {
		writePolicyError(w, err)
		return
	}
	a.share(w, r, r.PathValue("name"))
	v.Config = nil
	writeJSON(w, http.StatusOK, v)
}

func (a *adminServer) rollbackPolicy(w http.ResponseWriter, r *http.Request) {
	v, err := a.engine.Rollback(r.Context(), r.PathValue("name"))
	a.policies.refresh() // the filter's cached verdicts go
	if err != nil {
		writePolicyError(w, err)
		return
	}
	a.share(w, r, r.PathValue("name"))
	v.Config = nil
	writeJSON(w, http.StatusOK, v)
}

// share publishes a policy's new state to the other gateways of the site
// (a gateway with a site directory). Done here, the change stands; one
// that could not be shared (etcd away) is said in the answer's header
// X-Distgate-Shared, and the site converges at the next change.
func (a *adminServer) share(w http.ResponseWriter, r *http.Request, name string) {
	if a.shared == nil {
		return
	}
	if err := a.shared.publish(r.Context(), name); err != nil {
		a.shared.log.Error("policy changed here but not shared with the site", "policy", name, "err", err)
		w.Header().Set("X-Distgate-Shared", "failed: "+err.Error())
		return
	}
	w.Header().Set("X-Distgate-Shared", "site")
}

// PolicyTest is the body of POST /v1/policies/{name}/test.
type PolicyTest struct {
	Node    string   `json:"node"`
	Accept  []string `json:"accept,omitempty"`
	Asker   string   `json:"asker,omitempty"`
	Site    string   `json:"site,omitempty"`
	Version int      `json:"version,omitempty"` // 0: the active version
}

// RouteView is a route as the admin API shows it.
type RouteView struct {
	Kind       string            `json:"kind"`
	Site       string            `json:"site,omitempty"`
	Transport  string            `json:"transport,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Endpoints  []abi.Endpoint    `json:"endpoints,omitempty"`
	LivenessMS uint32            `json:"liveness_ms,omitempty"`
	TickMS     uint32            `json:"tick_ms,omitempty"`
	Priority   int32             `json:"priority,omitempty"`
	Took       time.Duration     `json:"took_ns"`
	Request    abi.LookupRequest `json:"request"`
}

// testPolicy dry-runs a lookup against a version of a policy, with the
// registry's view of the node, as a real lookup would.
func (a *adminServer) testPolicy(w http.ResponseWriter, r *http.Request) {
	var t PolicyTest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&t); err != nil || t.Node == "" {
		writeError(w, http.StatusBadRequest, `want {"node": "name@host", "accept": [...], "asker": "...", "version": N}`)
		return
	}
	req := lookupRequest(a.nodes.query(t.Node, t.Accept, t.Asker))
	req.Asker.Site = t.Site
	start := time.Now()
	rt, err := a.engine.DryRunLookup(r.Context(), r.PathValue("name"), t.Version, &req)
	took := time.Since(start)
	if err != nil {
		writePolicyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RouteView{
		Kind: rt.Kind.String(), Site: rt.Site, Transport: rt.Transport, Reason: rt.Reason, Endpoints: rt.Endpoints,
		LivenessMS: rt.Options.LivenessTimeoutMS, TickMS: rt.Options.TickMS, Priority: rt.Options.Priority,
		Took: took, Request: req,
	})
}

func (a *adminServer) policyLogs(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	name := r.PathValue("name")
	if _, err := a.engine.Policy(name); err != nil {
		writePolicyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"policy": name, "lines": a.logs.recent(name, n)})
}

// writePolicyError maps engine errors to HTTP statuses.
func writePolicyError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, wasm.ErrInvalidModule):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, wasm.ErrNoPolicy):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, wasm.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprint(err))
	}
}
