package gateway

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/relay"
)

// Page is what the status page shows, polled as one JSON document.
type Page struct {
	Now       time.Time      `json:"now"`
	Gateway   PageGateway    `json:"gateway"`
	Links     []PageLink     `json:"links"`
	Relays    []PageRelay    `json:"relays"`
	Nodes     []NodeView     `json:"nodes"`
	Remote    []PageRemote   `json:"remote"` // nodes of peer sites looked up here (their proxy ports)
	Policies  []PagePolicy   `json:"policies"`
	Certs     []PageCert     `json:"certificates"`
	Refusals  []PageCount    `json:"refusals"` // the public edge's, by reason
	Events    []events.Event `json:"events"`   // the latest, oldest first
	Ready     bool           `json:"ready"`
	NotReady  string         `json:"not_ready,omitempty"`
	Lookups   uint64         `json:"lookups"`
	EPMDCalls uint64         `json:"epmd_requests"`
}

// PageGateway is this gateway.
type PageGateway struct {
	Site       string    `json:"site"`
	Role       string    `json:"role"`
	Identity   string    `json:"identity"`
	Version    string    `json:"version"`
	Started    time.Time `json:"started"`
	EPMD       string    `json:"epmd"`
	QUIC       string    `json:"quic"`
	TLS        string    `json:"tls"`
	PublicEPMD string    `json:"public_epmd"`
	// Directory is the site directory of an agent or an edge; absent for
	// a standalone gateway.
	Directory *PageDirectory `json:"directory,omitempty"`
}

// PageDirectory is the site directory as this gateway's cache holds it.
type PageDirectory struct {
	Stale      bool      `json:"stale"`
	StaleSince time.Time `json:"stale_since,omitzero"`
	Member     string    `json:"member"` // this gateway's member ID
	Members    int       `json:"members"`
	Edges      int       `json:"edges"`
	Nodes      int       `json:"nodes"`
	Pending    []string  `json:"pending,omitempty"`
	Rejected   int       `json:"rejected,omitempty"`
	// Hosts are the site's members the topology draws: this gateway
	// first, then the edges, then the agents, by host; pageMembers at
	// most (Members says how many there are).
	Hosts []PageMember `json:"hosts"`
}

// PageMember is a gateway of the site, as the directory holds it.
type PageMember struct {
	ID    string `json:"id"`
	Role  string `json:"role"`
	Host  string `json:"host"`
	Self  bool   `json:"self,omitempty"`
	Load  int    `json:"load"`  // an edge's relays, as it last published them
	Nodes int    `json:"nodes"` // the registrations the cache holds of it (an agent's)
}

// pageMembers is how many of the site's members the page is sent.
const pageMembers = 16

// pageDirectory is the page's view of the directory's status; nodesOf
// counts the registrations of each member the cache holds.
func pageDirectory(d *directory.Status, nodesOf map[string]int) *PageDirectory {
	pd := &PageDirectory{Stale: d.Stale, StaleSince: d.StaleSince, Member: d.Member, Members: len(d.Members), Nodes: d.Nodes,
		Pending: d.Pending, Rejected: d.Rejected, Hosts: []PageMember{}}
	for _, m := range d.Members {
		if m.Role == directory.RoleEdge {
			pd.Edges++
		}
	}
	members := slices.Clone(d.Members)
	rank := func(m directory.Member) int {
		switch {
		case m.ID == d.Member:
			return 0
		case m.Role == directory.RoleEdge:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(members, func(a, b directory.Member) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Host, b.Host), cmp.Compare(a.ID, b.ID))
	})
	for _, m := range members[:min(len(members), pageMembers)] {
		pd.Hosts = append(pd.Hosts, PageMember{ID: m.ID, Role: string(m.Role), Host: m.Host, Self: m.ID == d.Member, Load: m.Load, Nodes: nodesOf[m.ID]})
	}
	return pd
}

// PageLink is a peer's link over one transport, with its dials.
type PageLink struct {
	link.Summary
	Dials    uint64 `json:"dials"`
	Failures uint64 `json:"dial_failures"`
}

// PageRelay is a relayed connection in progress.
type PageRelay struct {
	relay.Status
	BytesToTarget int64 `json:"bytes_to_target"`
	BytesToCaller int64 `json:"bytes_to_caller"`
}

// PageRemote is a node of a peer site this gateway gave a proxy port for.
type PageRemote struct {
	Node   string `json:"node"`
	Site   string `json:"site"`
	Active int64  `json:"active"`
}

// PagePolicy is an uploaded policy.
type PagePolicy struct {
	Name      string        `json:"name"`
	Role      string        `json:"role,omitempty"`
	Version   int           `json:"version"`
	Decisions uint64        `json:"decisions"`
	Failures  uint64        `json:"failures"`
	Tests     uint64        `json:"tests"`
	P99       time.Duration `json:"decision_p99_ns"`
	Error     string        `json:"error,omitempty"`
}

// PageCert is a certificate.
type PageCert struct {
	Name      string    `json:"name"`
	Issuer    string    `json:"issuer"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Days      float64   `json:"days_left"`
	LastError string    `json:"last_error,omitempty"`
}

// PageCount is a count by reason.
type PageCount struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// pageEvents is how many of the latest events the page shows.
const pageEvents = 60

// page returns what the status page shows now.
func (g *Gateway) page(_ context.Context) any {
	st := g.Status()
	p := Page{
		Now: time.Now(),
		Gateway: PageGateway{Site: st.Site, Role: st.Role, Identity: st.Identity, Version: st.Version, Started: st.Started,
			EPMD: st.EPMD, QUIC: st.QUIC, TLS: st.TLS, PublicEPMD: st.PublicEPMD},
		Nodes: st.Registered, Events: nonNil(g.events.Since(0, "", pageEvents)),
		Links: []PageLink{}, Relays: []PageRelay{}, Remote: []PageRemote{}, Policies: []PagePolicy{}, Certs: []PageCert{}, Refusals: []PageCount{},
	}
	if d := st.Directory; d != nil {
		nodesOf := map[string]int{}
		g.dir.View(func(s *directory.State) {
			for _, n := range s.Nodes() {
				nodesOf[n.Member]++
			}
		})
		p.Gateway.Directory = pageDirectory(d, nodesOf)
	}
	p.Ready, p.NotReady = g.ready()
	counts := gatherCounts(g.metrics.reg)
	for _, s := range st.Peers {
		t := s.Transport.String()
		p.Links = append(p.Links, PageLink{Summary: s,
			Dials:    counts.sum("distgate_link_dials_total", "peer", s.Peer, "transport", t),
			Failures: counts.sum("distgate_link_dials_total", "peer", s.Peer, "transport", t, "result", "failed"),
		})
	}
	for _, r := range st.Relays {
		pr := PageRelay{Status: r, BytesToTarget: r.BytesOut, BytesToCaller: r.BytesIn}
		if r.Direction == relay.In {
			pr.BytesToTarget, pr.BytesToCaller = r.BytesIn, r.BytesOut
		}
		p.Relays = append(p.Relays, pr)
	}
	for _, px := range st.Proxies {
		p.Remote = append(p.Remote, PageRemote{Node: px.Target, Site: px.Via, Active: px.Active})
	}
	sort.Slice(p.Remote, func(i, j int) bool { return p.Remote[i].Node < p.Remote[j].Node })
	for _, info := range g.engine.Policies() {
		pp := PagePolicy{Name: info.Name, Version: info.Active.Seq, Decisions: info.Stats.Calls, Failures: info.Stats.Failures,
			Tests: info.Stats.Tests, P99: g.metrics.decisionP99(info.Name), Role: policyRole(info.Name, g.policies)}
		if info.Err != nil {
			pp.Error = info.Err.Error()
		}
		p.Policies = append(p.Policies, pp)
	}
	for _, c := range st.Certs {
		pc := PageCert{Name: c.Name, Issuer: c.Issuer, NotAfter: c.NotAfter, LastError: c.LastError}
		if !c.NotAfter.IsZero() {
			pc.Days = math.Round(time.Until(c.NotAfter).Hours()/24*10) / 10
		}
		p.Certs = append(p.Certs, pc)
	}
	sort.Slice(p.Certs, func(i, j int) bool { return p.Certs[i].Name < p.Certs[j].Name })
	p.Refusals = counts.refusals()
	p.Lookups = counts.sum("distgate_lookups_total")
	p.EPMDCalls = counts.sum("distgate_epmd_requests_total")
	return p
}

// policyRole is a policy's role: what the gateway asks it.
func policyRole(name string, p *policyRouter) string {
	var roles []string
	if name == p.lookup {
		roles = append(roles, "lookup")
	}
	if name == p.authorize {
		roles = append(roles, "authorize")
	}
	return strings.Join(roles, ", ")
}

// counts are the counters and gauges of a registry, gathered once.
type counts []*dto.MetricFamily

func gatherCounts(reg *prometheus.Registry) counts {
	fams, _ := reg.Gather() // a collector's error leaves the others
	return fams
}

// sum adds the values of a family's series whose labels match the pairs
// given (name, value, ...).
func (c counts) sum(family string, labels ...string) uint64 {
	var total float64
	for _, f := range c {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, labels) {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return uint64(total)
}

func matches(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// refusals are the public edge's refusals by reason: the public EPMD's
// (by what was asked) and the TLS ports' (by reason).
func (c counts) refusals() []PageCount {
	by := map[string]uint64{}
	for _, f := range c {
		switch f.GetName() {
		case "distgate_public_epmd_refusals_total":
			for _, m := range f.GetMetric() {
				by["epmd: "+label(m, "what")] += uint64(m.GetCounter().GetValue())
			}
		case "distgate_relays_refused_total":
			for _, m := range f.GetMetric() {
				if label(m, "route") == "public" {
					by["tls: "+strings.ReplaceAll(label(m, "reason"), "_", " ")] += uint64(m.GetCounter().GetValue())
				}
			}
		}
	}
	out := []PageCount{}
	for r, n := range by {
		if n > 0 {
			out = append(out, PageCount{Reason: r, Count: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Count > out[j].Count || (out[i].Count == out[j].Count && out[i].Reason < out[j].Reason)
	})
	return out
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// decisionP99 estimates a policy's 99th percentile decision time, over
// both decisions, from its histogram (linear within a bucket); 0 before
// any decision.
func (m *metrics) decisionP99(policy string) time.Duration {
	var total uint64
	cum := make([]uint64, len(decisionBuckets))
	for _, decision := range []string{"lookup", "authorize"} {
		h, err := m.decisions.GetMetricWithLabelValues(policy, decision)
		if err != nil {
			continue
		}
		var d dto.Metric
		if h.(prometheus.Histogram).Write(&d) != nil {
			continue
		}
		total += d.GetHistogram().GetSampleCount()
		for i, b := range d.GetHistogram().GetBucket() {
			if i < len(cum) {
				cum[i] += b.GetCumulativeCount()
			}
		}
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(float64(total) * 0.99))
	lower, below := 0.0, uint64(0)
	for i, c := range cum {
		if c >= rank {
			frac := float64(rank-below) / float64(max(c-below, 1))
			return time.Duration((lower + (decisionBuckets[i]-lower)*frac) * float64(time.Second))
		}
		lower, below = decisionBuckets[i], c
	}
	return time.Duration(decisionBuckets[len(decisionBuckets)-1] * float64(time.Second)) // past the last bucket
}

// ready reports whether the gateway serves: its EPMD accepts connections,
// no configured link is down and its site directory, if any, is current.
// Why not is said in counts.
func (g *Gateway) ready() (bool, string) {
	epmdUp := true
	if g.epmdLn != nil {
		c, err := net.DialTimeout("tcp", g.epmdLn.Addr().String(), time.Second)
		if err != nil {
			epmdUp = false
		} else {
			c.Close()
		}
	}
	return readiness(epmdUp, g.links.Summaries(), g.directoryStale())
}

// directoryStale reports whether the gateway has a site directory that is
// stale (etcd does not answer).
func (g *Gateway) directoryStale() bool { return g.dir != nil && g.dir.Stale() }

// readiness is ready's verdict on what it found.
func readiness(epmdUp bool, links []link.Summary, dirStale bool) (bool, string) {
	var why []string
	if !epmdUp {
		why = append(why, "epmd not accepting")
	}
	down := 0
	for _, s := range links {
		if s.State == link.StateDown {
			down++
		}
	}
	if down > 0 {
		why = append(why, fmt.Sprintf("%d of %d links down", down, len(links)))
	}
	if dirStale {
		why = append(why, "site directory stale")
	}
	return len(why) == 0, strings.Join(why, "; ")
}
