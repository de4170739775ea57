package gateway

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/proxy"
)

// resolver implements epmd.Resolver: it asks the router where a node
// leads and turns the route into endpoints; a remote node is answered
// with its loopback proxy port.
type resolver struct {
	router  Router
	nodes   *nodes // who asks for a proxy port
	links   *link.Manager
	proxies *proxy.Ports
	metrics *metrics
	log     *slog.Logger
	// viaSite, for an agent, is its own site: a route to another site
	// leads to one of its site's edges, whose own routes go on.
	viaSite string
}

// lookupRequest is the one builder of the policies' LookupRequest: what
// the EPMD server asks its resolver, in the ABI's terms.
func lookupRequest(q epmd.Query) abi.LookupRequest {
	req := abi.LookupRequest{
		Name: q.Name, Host: q.Host, Accept: q.Accept, LocalHost: q.LocalHost, Registered: q.Registered, Classic: q.Classic,
		Asker: abi.Asker{Node: q.Asker, Addr: q.Peer},
	}
	for _, ep := range q.Local {
		req.Local = append(req.Local, toABIEndpoint(ep))
	}
	return req
}

// Resolve implements epmd.Resolver.
func (r *resolver) Resolve(ctx context.Context, q epmd.Query) epmd.Answer {
	q = r.siteQuery(q)
	req := lookupRequest(q)
	rt := r.router.Lookup(ctx, &req)
	ans := r.answer(q, req.Node(), rt)
	r.metrics.lookups.WithLabelValues(rt.Kind.String(), ans.Status.String()).Inc()
	return ans
}

// siteQuery completes a query for a node of another host of the site,
// which is this site's: the policies see it as a node of this host, at its
// host's address, from the directory's cache (no etcd round trip).
func (r *resolver) siteQuery(q epmd.Query) epmd.Query {
	if !q.Registered && q.Host != "" && r.nodes.dir != nil {
		if sn, ok := r.nodes.dir.Lookup(q.Name, q.Host); ok {
			q.Local, q.Registered, q.LocalHost = sn.Endpoints(q.Accept), true, true
		}
	}
	return q
}

// answer turns a route into the EPMD's answer.
func (r *resolver) answer(q epmd.Query, node string, rt abi.Route) epmd.Answer {
	switch rt.Kind {
	case abi.RouteLocal:
		eps := q.Local
		if len(rt.Endpoints) > 0 {
			eps = fromABIEndpoints(rt.Endpoints)
		}
		if len(eps) == 0 {
			if !q.Registered {
				return epmd.Answer{Status: epmd.StatusNotFound, Message: "no node " + q.Name + " is registered here"}
			}
			return epmd.Answer{Status: epmd.StatusNotFound, Message: "node " + q.Name + " offers none of the accepted protocols"}
		}
		return epmd.Answer{Status: epmd.StatusOK, Endpoints: eps}
	case abi.RouteVia:
		if q.Host == "" {
			return epmd.Answer{Status: epmd.StatusNotFound, Message: "a remote node is looked up by its full name"}
		}
		site := rt.Site
		if r.viaSite != "" {
			site = r.viaSite
		}
		if !r.links.HasPeer(site) {
			r.log.Error("lookup routed to a site that is not a configured peer", "node", node, "site", rt.Site)
			return epmd.Answer{Status: epmd.StatusUnavailable, Message: "the route of " + node + " leads to site " + rt.Site + ", which is not a configured peer"}
		}
		if !q.LocalPeer {
			return epmd.Answer{Status: epmd.StatusDenied, Message: "remote nodes are reached through loopback proxy ports: ask the gateway of your own host"}
		}
		if len(q.Accept) > 0 && !slices.Contains(q.Accept, "inet_tcp") {
			return epmd.Answer{Status: epmd.StatusNotFound, Message: "node " + node + " is reached through a loopback TCP proxy port: accept inet_tcp"}
		}
		transport, _ := link.ParseTransport(rt.Transport) // validated with the route
		port, err := r.proxies.Port(node, proxy.Route{
			Site: site, Transport: transport,
			Liveness: time.Duration(rt.Options.LivenessTimeoutMS) * time.Millisecond,
			Tick:     time.Duration(rt.Options.TickMS) * time.Millisecond,
			Filter:   rt.Options.Filter,
		}, r.nodes.portOwner(q))
		if err != nil {
			r.log.Error("lookup", "node", node, "err", err)
			return epmd.Answer{Status: epmd.StatusUnavailable, Message: err.Error()}
		}
		return epmd.Answer{Status: epmd.StatusOK, Endpoints: []epmd.Endpoint{{
			Transport: epmd.Transport{Proto: "inet_tcp", Port: uint16(port), Family: epmd.FamilyInet,
				Addr: r.proxies.Addr(), HighVsn: 6, LowVsn: 6},
			NodeType: epmd.NodeTypeNormal,
		}}}
	case abi.RouteDeny:
		r.log.Info("lookup denied", "node", node, "asker", q.Asker, "reason", rt.Reason)
		return epmd.Answer{Status: epmd.StatusDenied, Message: rt.Reason}
	}
	return epmd.Answer{Status: epmd.StatusNoRoute, Message: "host " + q.Host + " is not this host and no route leads there"}
}

func toABIEndpoint(ep epmd.Endpoint) abi.Endpoint {
	return abi.Endpoint{
		Proto: ep.Proto, Port: ep.Port, Path: ep.Path, Family: abi.Family(ep.Family), Addr: ep.Addr,
		HighVsn: ep.HighVsn, LowVsn: ep.LowVsn, Extra: ep.Extra, Protocol: ep.Protocol, NodeType: ep.NodeType,
	}
}

// fromABIEndpoints turns a policy's endpoints into the EPMD's, with the
// ABI's defaults for what a policy left out: family inet, versions 6,
// a normal node.
func fromABIEndpoints(eps []abi.Endpoint) []epmd.Endpoint {
	out := make([]epmd.Endpoint, len(eps))
	for i, ep := range eps {
		fam := epmd.Family(ep.Family)
		if fam == epmd.FamilyUnspec {
			fam = epmd.FamilyInet
		}
		high, low := ep.HighVsn, ep.LowVsn
		if high == 0 {
			high = 6
		}
		if low == 0 {
			low = 6
		}
		nt := ep.NodeType
		if nt == 0 {
			nt = epmd.NodeTypeNormal
		}
		out[i] = epmd.Endpoint{Transport: epmd.Transport{
			Proto: ep.Proto, Port: ep.Port, Path: ep.Path, Family: fam, Addr: ep.Addr,
			HighVsn: high, LowVsn: low, Extra: ep.Extra, Protocol: ep.Protocol,
		}, NodeType: nt}
	}
	return out
}
