package gateway

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/epmd"
)

// dashboard is the sample Grafana dashboard.
const dashboard = "../samples/grafana/distgate-dashboard.json"

// Labels a dashboard may use that Prometheus adds at scrape time (and le,
// which histogram buckets carry).
var scrapeLabels = map[string]bool{"instance": true, "job": true, "le": true}

// dashboardQueries returns every PromQL expression of the dashboard.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out = append(out, v.Definition)
		}
	}
	if len(out) < 20 {
		t.Fatalf("the dashboard has %d queries", len(out))
	}
	return out
}

var (
	metricName = regexp.MustCompile(`\b((?:distgate|process|go)_[a-z0-9_]+)\b`)
	matcher    = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!=|!~|=)\s*"`)
	grouping   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	seriesLine = regexp.MustCompile(`(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? `)
	labelName  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
)

// TestDashboardUsesExportedSeries runs two gateways that relay, refuse,
// decide with a policy and answer EPMD requests, scrapes the first, and
// checks that every metric and every label the sample dashboard queries
// is exported.
func TestDashboardUsesExportedSeries(t *testing.T) {
	a, b := prepareSite(t, "site-a"), prepareSite(t, "site-b")
	a.cfg.Peers, b.cfg.Peers = []PeerConfig{b.peerOf()}, []PeerConfig{a.peerOf()}
	a.cfg.Routes = []RouteConfig{{Match: "*@*.site-b.example", Site: "site-b", Transport: "quic", Liveness: Duration(3 * time.Second)}}
	a.cfg.Public = PublicConfig{EPMD: "127.0.0.1:0", Address: "127.0.0.1"}
	a.cfg.Policy.CallTimeout = Duration(time.Second) // two cores shared: no decision may fail for want of time
	a.start(t)
	b.start(t)
	startFakeNode(t, b, "y")
	// The public EPMD refuses a DUMP.
	public := &epmd.Client{Addr: a.gw.publicLn.Addr().String(), Timeout: 5 * time.Second}
	public.Request(context.Background(), []byte{'d'})
	c, _, err := dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "the relay to end", func() bool { return a.gw.relays.Len() == 0 })
	// A refusal: the peer has no such node.
	if c, _, err := dialRemote(t, a, "ghost@n1.site-b.example", "x@n1.site-a.example"); err == nil {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.Read(buf)
		c.Close()
	}
	waitFor(t, "the refusal", func() bool { return strings.Contains(scrape(t, a), "distgate_relays_refused_total") })
	// A policy decides a lookup.
	if _, err := a.gw.engine.Install(context.Background(), "lookup", build.WAT(t, "../samples/policies/local-only/local-only.wat"), nil); err != nil {
		t.Fatal(err)
	}
	a.gw.policies.refresh()
	if _, err := a.epmdClient().PortPlease(context.Background(), "nobody"); err != nil {
		t.Fatal(err)
	}
	dialRemote(t, a, "z@n1.site-b.example", "x@n1.site-a.example") // denied by the policy: an error
	text := scrape(t, a)

	exported := map[string]map[string]bool{} // metric -> its labels
	for _, m := range seriesLine.FindAllStringSubmatch(text, -1) {
		labels := exported[m[1]]
		if labels == nil {
			labels = map[string]bool{}
			exported[m[1]] = labels
		}
		for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = true
		}
	}
	for name := range exported {
		if strings.HasPrefix(name, "distgate_directory_") {
			t.Errorf("a standalone gateway exports %s (the directory's metrics are an agent's or an edge's)", name)
		}
	}
	for _, q := range dashboardQueries(t) {
		names := metricName.FindAllString(q, -1)
		if len(names) == 0 {
			t.Errorf("query %q names no distgate metric", q)
		}
		var used []string
		for _, m := range matcher.FindAllStringSubmatch(q, -1) {
			used = append(used, m[1])
		}
		for _, g := range grouping.FindAllStringSubmatch(q, -1) {
			for _, l := range strings.Split(g[1], ",") {
				used = append(used, strings.TrimSpace(l))
			}
		}
		for _, name := range names {
			labels, ok := exported[name]
			if !ok {
				t.Errorf("query %q: %s is not exported", q, name)
				continue
			}
			for _, l := range used {
				if l != "" && !scrapeLabels[l] && !labels[l] && !anyHas(exported, names, l) {
					t.Errorf("query %q: no series of %v has label %q", q, names, l)
				}
			}
		}
	}
}

// anyHas reports whether one of the metrics has label l (a query over
// several metrics may group by a label of one of them).
func anyHas(exported map[string]map[string]bool, names []string, l string) bool {
	for _, n := range names {
		if exported[n][l] {
			return true
		}
	}
	return false
}
