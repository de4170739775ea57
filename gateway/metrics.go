package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/filtering"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/relay"
	"github.com/distgate/distgate/wasm"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own
// (served on the admin API at /metrics, behind the token). Every metric
// is listed in the README with its labels; labels take bounded values:
// configured peer sites, transports, reasons, commands, policy and
// certificate names, and node names only with admin.node_metrics, up to
// its cap.
type metrics struct {
	reg *prometheus.Registry

	lookups        *prometheus.CounterVec   // route, status
	relays         *prometheus.CounterVec   // direction, transport, result
	relayBytes     *prometheus.CounterVec   // direction (from_node, to_node)
	relaysEnded    *prometheus.CounterVec   // route, direction, reason
	relaysRefused  *prometheus.CounterVec   // route, direction, reason
	linkDials      *prometheus.CounterVec   // peer, transport, result
	publicRefusals *prometheus.CounterVec   // what
	decisions      *prometheus.HistogramVec // policy, decision
	relaysActive   atomic.Int64
	nodes          *nodeLabels // nil without admin.node_metrics
}

// Buckets of the policy decision time, in seconds: from 5 µs (a cached
// or trivial decision) to the call timeout's order (250 ms).
var decisionBuckets = []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3}

// newMetrics returns the gateway's metrics, with the policy engine's
// counters and, when nodeCap > 0, per-node counters for up to nodeCap
// node names; watch adds the other parts' once they exist.
func newMetrics(eng *wasm.Engine, nodeCap int) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_lookups_total", Help: "Full-name and routed lookups, by route kind and answer status.",
		}, []string{"route", "status"}),
		relays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_relays_total", Help: "Relayed distribution connections, by direction, transport and result.",
		}, []string{"direction", "transport", "result"}),
		relayBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_relay_bytes_total", Help: "Bytes relayed, from local nodes and to local nodes.",
		}, []string{"direction"}),
		relaysEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_relays_ended_total", Help: "Relayed connections that ended, by route (peer site or public), direction and reason.",
		}, []string{"route", "direction", "reason"}),
		relaysRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_relays_refused_total", Help: "Relayed connections refused before they started, by route, direction and reason.",
		}, []string{"route", "direction", "reason"}),
		linkDials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_link_dials_total", Help: "Links dialled to peer gateways, by result.",
		}, []string{"peer", "transport", "result"}),
		publicRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_public_epmd_refusals_total", Help: "Requests the public EPMD refused, by what was asked.",
		}, []string{"what"}),
		decisions: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "distgate_policy_decision_seconds", Help: "Time the gateway waited for an uploaded policy's decisions, by policy and decision (lookup, authorize).",
			Buckets: decisionBuckets,
		}, []string{"policy", "decision"}),
	}
	m.reg.MustRegister(m.lookups, m.relays, m.relayBytes, m.relaysEnded, m.relaysRefused, m.linkDials, m.publicRefusals, m.decisions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "distgate_relays_active", Help: "Relayed connections open now.",
		}, func() float64 { return float64(m.relaysActive.Load()) }),
		&policyCollector{eng: eng},
	)
	if nodeCap > 0 {
		m.nodes = newNodeLabels(nodeCap)
		m.reg.MustRegister(m.nodes.relays, m.nodes.bytes)
	}
	return m
}

// partsCollector exports what the gateway's parts know when scraped: the
// links per peer and transport, the EPMD's requests, the certificates,
// the registered nodes and the build.
type partsCollector struct {
	site, version string
	started       time.Time
	links         *link.Manager
	certs         *pki.Manager
	nodes         *nodes
	epmds         map[string]*epmd.Server // "local", "public"
}

var (
	linkUpDesc      = prometheus.NewDesc("distgate_link_up", "1 when the link to a peer over a transport is up, 0 when it is down or idle.", []string{"peer", "transport"}, nil)
	linkStateDesc   = prometheus.NewDesc("distgate_link_state", "1 for the state the link to a peer over a transport is in (up, down, idle), 0 for the others.", []string{"peer", "transport", "state"}, nil)
	linkRTTDesc     = prometheus.NewDesc("distgate_link_rtt_seconds", "Smoothed round-trip time of the link to a peer (QUIC's; for TLS, the control connection's pings); 0 before any.", []string{"peer", "transport"}, nil)
	linkStreamsDesc = prometheus.NewDesc("distgate_link_streams", "Streams (relayed connections and queries) open on the links to a peer.", []string{"peer", "transport"}, nil)
	linkRecvDesc    = prometheus.NewDesc("distgate_link_received_bytes_total", "Bytes received on the links to a peer, with TLS or QUIC overhead.", []string{"peer", "transport"}, nil)
	linkSentDesc    = prometheus.NewDesc("distgate_link_sent_bytes_total", "Bytes sent on the links to a peer, with TLS or QUIC overhead.", []string{"peer", "transport"}, nil)
	epmdReqDesc     = prometheus.NewDesc("distgate_epmd_requests_total", "Requests read by the gateway's EPMD (local) and public EPMD (public), by command.", []string{"epmd", "command"}, nil)
	certExpiryDesc  = prometheus.NewDesc("distgate_certificate_expiry_seconds", "Seconds until a certificate ends (negative once it has); absent before it is obtained.", []string{"name", "issuer"}, nil)
	nodesDesc       = prometheus.NewDesc("distgate_registered_nodes", "Nodes registered with the EPMD.", nil, nil)
	buildDesc       = prometheus.NewDesc("distgate_build_info", "Always 1: the gateway's version and site.", []string{"version", "site"}, nil)
	startDesc       = prometheus.NewDesc("distgate_start_time_seconds", "When the gateway started, in Unix seconds.", nil, nil)
)

func (c *partsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{linkUpDesc, linkStateDesc, linkRTTDesc, linkStreamsDesc, linkRecvDesc, linkSentDesc,
		epmdReqDesc, certExpiryDesc, nodesDesc, buildDesc, startDesc} {
		ch <- d
	}
}

func (c *partsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.links.Summaries() {
		t := s.Transport.String()
		up := 0.0
		if s.State == link.StateUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(linkUpDesc, prometheus.GaugeValue, up, s.Peer, t)
		for _, state := range []string{link.StateUp, link.StateDown, link.StateIdle} {
			v := 0.0
			if s.State == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(linkStateDesc, prometheus.GaugeValue, v, s.Peer, t, state)
		}
		ch <- prometheus.MustNewConstMetric(linkRTTDesc, prometheus.GaugeValue, s.RTT.Seconds(), s.Peer, t)
		ch <- prometheus.MustNewConstMetric(linkStreamsDesc, prometheus.GaugeValue, float64(s.Streams), s.Peer, t)
		ch <- prometheus.MustNewConstMetric(linkRecvDesc, prometheus.CounterValue, float64(s.BytesIn), s.Peer, t)
		ch <- prometheus.MustNewConstMetric(linkSentDesc, prometheus.CounterValue, float64(s.BytesOut), s.Peer, t)
	}
	for name, srv := range c.epmds {
		if srv == nil {
			continue
		}
		for cmd, n := range srv.Requests() {
			ch <- prometheus.MustNewConstMetric(epmdReqDesc, prometheus.CounterValue, float64(n), name, cmd)
		}
	}
	now := time.Now()
	for _, st := range c.certs.States() {
		if !st.NotAfter.IsZero() {
			ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, st.NotAfter.Sub(now).Seconds(), st.Name, st.Issuer)
		}
	}
	ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(c.nodes.count()))
	ch <- prometheus.MustNewConstMetric(buildDesc, prometheus.GaugeValue, 1, c.version, c.site)
	ch <- prometheus.MustNewConstMetric(startDesc, prometheus.GaugeValue, float64(c.started.UnixNano())/1e9)
}

// policyCollector exports each policy's counters from the engine.
type policyCollector struct{ eng *wasm.Engine }

var (
	policyCallsDesc    = prometheus.NewDesc("distgate_policy_calls_total", "Decisions asked of a policy.", []string{"policy"}, nil)
	policyFailuresDesc = prometheus.NewDesc("distgate_policy_failures_total", "Decisions that failed closed, by reason.", []string{"policy", "reason"}, nil)
	policyVersionDesc  = prometheus.NewDesc("distgate_policy_active_version", "The active version of a policy.", []string{"policy"}, nil)
)

func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- policyCallsDesc
	ch <- policyFailuresDesc
	ch <- policyVersionDesc
}

func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.eng.Policies() {
		ch <- prometheus.MustNewConstMetric(policyCallsDesc, prometheus.CounterValue, float64(p.Stats.Calls), p.Name)
		for reason, n := range map[string]uint64{
			"timeout": p.Stats.Timeouts, "trap": p.Stats.Traps, "invalid": p.Stats.Invalid,
			"error": p.Stats.Errors, "backoff": p.Stats.Backoffs, "unavailable": p.Stats.Unavailable,
		} {
			ch <- prometheus.MustNewConstMetric(policyFailuresDesc, prometheus.CounterValue, float64(n), p.Name, reason)
		}
		ch <- prometheus.MustNewConstMetric(policyVersionDesc, prometheus.GaugeValue, float64(p.Active.Seq), p.Name)
	}
}

// dialed counts a link dial.
func (m *metrics) dialed(site string, t link.Transport, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.linkDials.WithLabelValues(site, t.String(), result).Inc()
}

// decided observes the time a policy took to decide.
func (m *metrics) decided(policy, decision string, d time.Duration) {
	m.decisions.WithLabelValues(policy, decision).Observe(d.Seconds())
}

// started counts a relay's start.
func (m *metrics) started(ri *relay.Info) {
	m.relays.WithLabelValues(ri.Direction.String(), ri.Transport, "ok").Inc()
	m.relaysActive.Add(1)
}

// ended counts a relay's end, its reason and bytes.
func (m *metrics) ended(ri *relay.Info) {
	m.relaysActive.Add(-1)
	out, in := ri.Stats.AToB.Load(), ri.Stats.BToA.Load()
	m.relayBytes.WithLabelValues("from_node").Add(float64(out))
	m.relayBytes.WithLabelValues("to_node").Add(float64(in))
	m.relaysEnded.WithLabelValues(ri.Site, ri.Direction.String(), string(ri.Reason)).Inc()
	if m.nodes != nil {
		node := ri.Target // the local node: the target of an incoming relay, the caller of an outgoing one
		if ri.Direction == relay.Out {
			node = ri.Caller
		}
		m.nodes.ended(node, ri.Direction.String(), out, in)
	}
}

// refused counts a refusal.
func (m *metrics) refused(r *relay.Refusal) {
	m.relays.WithLabelValues(r.Direction.String(), r.Transport, "refused").Inc()
	m.relaysRefused.WithLabelValues(r.Site, r.Direction.String(), string(r.Reason)).Inc()
}

// nodeLabels are the per-node counters of admin.node_metrics: the first
// max node names seen get their own series, the others share the node
// label "_other", so that a flood of names cannot grow the metrics.
type nodeLabels struct {
	max    int
	relays *prometheus.CounterVec // node, direction
	bytes  *prometheus.CounterVec // node, direction (from_node, to_node)

	mu    sync.Mutex // guards names
	names map[string]bool
}

// otherNodes is the node label of the names past the cap.
const otherNodes = "_other"

func newNodeLabels(max int) *nodeLabels {
	return &nodeLabels{
		max: max, names: map[string]bool{},
		relays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_node_relays_total", Help: "Relayed connections that ended, by local node (admin.node_metrics names at most, the others as _other) and direction.",
		}, []string{"node", "direction"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_node_relay_bytes_total", Help: "Bytes relayed from and to a local node (admin.node_metrics names at most, the others as _other).",
		}, []string{"node", "direction"}),
	}
}

// label returns node's label: itself while there is room, else _other.
func (n *nodeLabels) label(node string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names[node] {
		return node
	}
	if len(n.names) < n.max {
		n.names[node] = true
		return node
	}
	return otherNodes
}

func (n *nodeLabels) ended(node, direction string, out, in int64) {
	l := n.label(node)
	n.relays.WithLabelValues(l, direction).Inc()
	n.bytes.WithLabelValues(l, "from_node").Add(float64(out))
	n.bytes.WithLabelValues(l, "to_node").Add(float64(in))
}

// watchDirectory exports the site directory's state (an agent's or an
// edge's; a standalone gateway has none, and none of these metrics).
func (m *metrics) watchDirectory(dir directoryStatus) {
	m.reg.MustRegister(&directoryCollector{dir: dir, now: time.Now})
}

// directoryStatus is where the directory's metrics come from: the state
// `distgate status` shows in its directory block (*directory.Directory).
type directoryStatus interface {
	Status() directory.Status
}

// directoryCollector exports the directory's state when scraped.
type directoryCollector struct {
	dir directoryStatus
	now func() time.Time
}

var (
	dirStaleDesc = prometheus.NewDesc("distgate_directory_stale",
		"1 while the site directory is stale (etcd does not answer: lookups and relays go on from the last known state), 0 while it is current.",
		nil, nil)
	dirStaleSecondsDesc = prometheus.NewDesc("distgate_directory_stale_seconds",
		"Seconds the site directory has been stale, since it was last current (or since the start, before it ever was); 0 while it is current.",
		nil, nil)
	dirContactAgeDesc = prometheus.NewDesc("distgate_directory_last_contact_age_seconds",
		"Seconds since etcd last answered the site directory; absent before it ever has.",
		nil, nil)
	dirRecordsDesc = prometheus.NewDesc("distgate_directory_records",
		"Records of the site the directory's cache holds, by kind (members: the site's live gateways; nodes: its hosts' registrations).",
		[]string{"kind"}, nil)
	dirHeldDesc = prometheus.NewDesc("distgate_directory_held_registrations",
		"Registrations of this agent's host not in etcd as its own, by state (pending: not published yet; conflict: another host holds the name).",
		[]string{"state"}, nil)
	dirRejectedDesc = prometheus.NewDesc("distgate_directory_rejected_total",
		"Directory records refused since the start: malformed, misnamed, too large, or beyond the cache's bounds.",
		nil, nil)
	dirRevisionDesc = prometheus.NewDesc("distgate_directory_revision",
		"The etcd revision the directory's cache is at.",
		nil, nil)
)

func (c *directoryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dirStaleDesc, dirStaleSecondsDesc, dirContactAgeDesc, dirRecordsDesc, dirHeldDesc, dirRejectedDesc, dirRevisionDesc} {
		ch <- d
	}
}

func (c *directoryCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.dir.Status()
	now := c.now()
	stale, staleFor := 0.0, 0.0
	if st.Stale {
		stale = 1
		if !st.StaleSince.IsZero() {
			staleFor = max(now.Sub(st.StaleSince).Seconds(), 0)
		}
	}
	ch <- prometheus.MustNewConstMetric(dirStaleDesc, prometheus.GaugeValue, stale)
	ch <- prometheus.MustNewConstMetric(dirStaleSecondsDesc, prometheus.GaugeValue, staleFor)
	if !st.LastContact.IsZero() {
		ch <- prometheus.MustNewConstMetric(dirContactAgeDesc, prometheus.GaugeValue, max(now.Sub(st.LastContact).Seconds(), 0))
	}
	ch <- prometheus.MustNewConstMetric(dirRecordsDesc, prometheus.GaugeValue, float64(len(st.Members)), "members")
	ch <- prometheus.MustNewConstMetric(dirRecordsDesc, prometheus.GaugeValue, float64(st.Nodes), "nodes")
	ch <- prometheus.MustNewConstMetric(dirHeldDesc, prometheus.GaugeValue, float64(len(st.Pending)), "pending")
	ch <- prometheus.MustNewConstMetric(dirHeldDesc, prometheus.GaugeValue, float64(len(st.Conflicts)), "conflict")
	ch <- prometheus.MustNewConstMetric(dirRejectedDesc, prometheus.CounterValue, float64(st.Rejected))
	ch <- prometheus.MustNewConstMetric(dirRevisionDesc, prometheus.GaugeValue, float64(st.Revision))
}

// watchFilters exports the filter's counts.
func (m *metrics) watchFilters(h *filtering.Hub) {
	m.reg.MustRegister(&filterCollector{h: h})
}

// filterCollector exports the counts of the message filter.
type filterCollector struct{ h *filtering.Hub }

var (
	filterDecisionsDesc = prometheus.NewDesc("distgate_filter_decisions_total",
		"Distribution messages (and connections, operation connect) the filter policy decided, by action and operation.",
		[]string{"action", "op"}, nil)
	filterConnsDesc = prometheus.NewDesc("distgate_filter_connections_total",
		"Relayed connections decoded by the message filter; passed whole: those the policy let through unfiltered at connect.",
		[]string{"mode"}, nil)
	filterVerdictsDesc = prometheus.NewDesc("distgate_filter_verdicts_total",
		"Where the filter's verdicts came from: the policy, a connection's cache, or a failed call (failed closed).",
		[]string{"source"}, nil)
)

func (c *filterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- filterDecisionsDesc
	ch <- filterConnsDesc
	ch <- filterVerdictsDesc
}

func (c *filterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Stats()
	for action, ops := range st.Decisions {
		for op, n := range ops {
			ch <- prometheus.MustNewConstMetric(filterDecisionsDesc, prometheus.CounterValue, float64(n), action, op)
		}
	}
	ch <- prometheus.MustNewConstMetric(filterConnsDesc, prometheus.CounterValue, float64(st.Connections-st.Unfiltered), "filtered")
	ch <- prometheus.MustNewConstMetric(filterConnsDesc, prometheus.CounterValue, float64(st.Unfiltered), "passed_whole")
	ch <- prometheus.MustNewConstMetric(filterVerdictsDesc, prometheus.CounterValue, float64(st.Calls-st.Failures), "policy")
	ch <- prometheus.MustNewConstMetric(filterVerdictsDesc, prometheus.CounterValue, float64(st.Cached), "cache")
	ch <- prometheus.MustNewConstMetric(filterVerdictsDesc, prometheus.CounterValue, float64(st.Failures), "failed")
}
