package gateway

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/distgate/distgate/gateway/filtering"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/relay"
	"github.com/distgate/distgate/wasm"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own
// (served on the admin API at /metrics, behind the token).
type metrics struct {
	reg *prometheus.Registry

	lookups        *prometheus.CounterVec // route, status
	relays         *prometheus.CounterVec // direction, transport, result
	relayBytes     *prometheus.CounterVec // direction (from_node, to_node)
	linkDials      *prometheus.CounterVec // peer, transport, result
	publicRefusals *prometheus.CounterVec // what
	relaysActive   atomic.Int64
}

// newMetrics returns the gateway's metrics, with the policy engine's
// counters; watchNodes adds the registry's once the EPMD is up.
func newMetrics(eng *wasm.Engine) *metrics {
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
		linkDials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_link_dials_total", Help: "Links dialled to peer gateways, by result.",
		}, []string{"peer", "transport", "result"}),
		publicRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distgate_public_epmd_refusals_total", Help: "Requests the public EPMD refused, by what was asked.",
		}, []string{"what"}),
	}
	m.reg.MustRegister(m.lookups, m.relays, m.relayBytes, m.linkDials, m.publicRefusals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "distgate_relays_active", Help: "Relayed connections open now.",
		}, func() float64 { return float64(m.relaysActive.Load()) }),
		&policyCollector{eng: eng},
	)
	return m
}

// watchNodes exports the number of nodes registered with the EPMD.
func (m *metrics) watchNodes(n *nodes) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "distgate_registered_nodes", Help: "Nodes registered with the EPMD.",
	}, func() float64 { return float64(n.count()) }))
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

// Relayed implements relay.Observer: it counts a relay's start or refusal.
func (m *metrics) Relayed(d relay.Direction, transport string, ok bool) {
	result := "ok"
	if !ok {
		result = "refused"
	}
	m.relays.WithLabelValues(d.String(), transport, result).Inc()
	if ok {
		m.relaysActive.Add(1)
	}
}

// Ended implements relay.Observer: it counts a relay's bytes once it has
// ended.
func (m *metrics) Ended(ri *relay.Info) {
	m.relaysActive.Add(-1)
	m.relayBytes.WithLabelValues("from_node").Add(float64(ri.Stats.AToB.Load()))
	m.relayBytes.WithLabelValues("to_node").Add(float64(ri.Stats.BToA.Load()))
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
