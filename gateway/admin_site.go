package gateway

import (
	"net/http"

	"github.com/distgate/distgate/gateway/directory"
)

// The site directory in the admin API, as this gateway's cache holds it
// (an agent's or an edge's; a standalone gateway has none):
//
//	GET /v1/site/nodes          the registrations of the site's hosts
//	GET /v1/site/nodes/{name}   one registration; 404 when absent
//
// They read the cache, never etcd: what lookups answer now.

func (a *adminServer) registerSiteRoutes() {
	a.handle("GET /v1/site/nodes", a.getSiteNodes)
	a.handle("GET /v1/site/nodes/{name}", a.getSiteNode)
}

func (a *adminServer) getSiteNodes(w http.ResponseWriter, _ *http.Request) {
	if a.dir == nil {
		writeError(w, http.StatusNotFound, "a standalone gateway has no site directory")
		return
	}
	var nodes []directory.Node
	a.dir.View(func(s *directory.State) { nodes = s.Nodes() })
	writeJSON(w, http.StatusOK, nodes)
}

func (a *adminServer) getSiteNode(w http.ResponseWriter, r *http.Request) {
	if a.dir == nil {
		writeError(w, http.StatusNotFound, "a standalone gateway has no site directory")
		return
	}
	name := r.PathValue("name")
	n, ok := a.dir.Node(name)
	if !ok {
		writeError(w, http.StatusNotFound, "no node "+name+" in the site directory")
		return
	}
	writeJSON(w, http.StatusOK, n)
}
