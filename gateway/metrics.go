package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/relay"
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
}

func newMetrics(g *Gateway) *metrics {
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
		}, func() float64 { return float64(g.relays.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "distgate_registered_nodes", Help: "Nodes registered with the EPMD.",
		}, func() float64 {
			n := 0
			if g.epmd != nil {
				g.epmd.Registry(func(r *epmd.Registry) { n = r.Len() })
			}
			return float64(n)
		}),
		&policyCollector{g: g},
	)
	return m
}

// policyCollector exports each policy's counters from the engine.
type policyCollector struct{ g *Gateway }

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
	if c.g.engine == nil {
		return
	}
	for _, p := range c.g.engine.Policies() {
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
func (m *metrics) dialed(peer, transport string, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.linkDials.WithLabelValues(peer, transport, result).Inc()
}

// Relayed implements relay.Observer: it counts a relay's start or refusal.
func (m *metrics) Relayed(d relay.Direction, transport string, ok bool) {
	result := "ok"
	if !ok {
		result = "refused"
	}
	m.relays.WithLabelValues(d.String(), transport, result).Inc()
}

// Ended implements relay.Observer: it counts a relay's bytes once it has
// ended.
func (m *metrics) Ended(ri *relay.Info) {
	m.relayBytes.WithLabelValues("from_node").Add(float64(ri.Stats.AToB.Load()))
	m.relayBytes.WithLabelValues("to_node").Add(float64(ri.Stats.BToA.Load()))
}
