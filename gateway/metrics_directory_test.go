package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/internal/freeport"
)

// fakeDirectory is a directoryStatus that answers a fixed status.
type fakeDirectory struct{ st directory.Status }

func (f *fakeDirectory) Status() directory.Status { return f.st }

// gatherDirectory scrapes a registry holding only the directory's
// collector, and returns each series' value by name and label values.
func gatherDirectory(t *testing.T, dir directoryStatus, now time.Time) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	c := &directoryCollector{dir: dir, now: time.Now}
	if !now.IsZero() {
		c.now = func() time.Time { return now }
	}
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			out[key] = metricValue(mf.GetType(), m)
		}
	}
	return out
}

func metricValue(t dto.MetricType, m *dto.Metric) float64 {
	if t == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestDirectoryMetrics: the directory's metrics say what its status says,
// stale or current, at the time of the scrape.
func TestDirectoryMetrics(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := &fakeDirectory{st: directory.Status{
		Site: "s", Member: "a1", Role: directory.RoleAgent,
		Stale: true, StaleSince: now.Add(-30 * time.Second), LastContact: now.Add(-31 * time.Second), Revision: 17,
		Members:   []directory.Member{{ID: "a1", Role: directory.RoleAgent}, {ID: "a2", Role: directory.RoleAgent}, {ID: "e1", Role: directory.RoleEdge}},
		Nodes:     5,
		Pending:   []string{"x", "y"},
		Conflicts: []string{"z (held by a2)"},
		Rejected:  4,
	}}
	want := map[string]float64{
		"distgate_directory_stale":                              1,
		"distgate_directory_stale_seconds":                      30,
		"distgate_directory_last_contact_age_seconds":           31,
		"distgate_directory_records{kind=members}":              3,
		"distgate_directory_records{kind=nodes}":                5,
		"distgate_directory_held_registrations{state=pending}":  2,
		"distgate_directory_held_registrations{state=conflict}": 1,
		"distgate_directory_rejected_total":                     4,
		"distgate_directory_revision":                           17,
	}
	checkSeries(t, gatherDirectory(t, f, now), want)

	// Current again: etcd answered half a second ago.
	f.st.Stale, f.st.StaleSince, f.st.LastContact = false, time.Time{}, now.Add(-500*time.Millisecond)
	f.st.Pending, f.st.Conflicts = nil, nil
	want["distgate_directory_stale"], want["distgate_directory_stale_seconds"] = 0, 0
	want["distgate_directory_last_contact_age_seconds"] = 0.5
	want["distgate_directory_held_registrations{state=pending}"] = 0
	want["distgate_directory_held_registrations{state=conflict}"] = 0
	checkSeries(t, gatherDirectory(t, f, now), want)
}

// TestDirectoryMetricsOfRealDirectory: a directory whose etcd never
// answers is stale from its start, holds nothing, and has no last
// contact to age.
func TestDirectoryMetricsOfRealDirectory(t *testing.T) {
	d := staleDirectory(t)
	got := gatherDirectory(t, d, time.Time{})
	if got["distgate_directory_stale"] != 1 {
		t.Errorf("stale = %v, want 1", got["distgate_directory_stale"])
	}
	if _, ok := got["distgate_directory_stale_seconds"]; !ok {
		t.Error("no distgate_directory_stale_seconds")
	}
	if _, ok := got["distgate_directory_last_contact_age_seconds"]; ok {
		t.Error("a last contact's age before etcd ever answered")
	}
	for _, k := range []string{"distgate_directory_records{kind=members}", "distgate_directory_records{kind=nodes}", "distgate_directory_rejected_total"} {
		if v, ok := got[k]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", k, v, ok)
		}
	}
}

func checkSeries(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("no series %s in %v", k, got)
			continue
		}
		if diff := g - w; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d series, want %d: %v", len(got), len(want), got)
	}
}

// staleDirectory is a site directory whose etcd never answers: nothing
// listens at its endpoint (a port from below the ephemeral range, so no
// other test's listener takes it meanwhile).
func staleDirectory(t *testing.T) *directory.Directory {
	t.Helper()
	port, err := freeport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	d, err := directory.New(directory.Config{
		Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", port)}, Prefix: "/distgate/", Site: "s", TTL: 3 * time.Second,
		Self: directory.Member{ID: "a1", Role: directory.RoleAgent, Host: "h1.example", Identity: "dg1:a1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// TestReadinessOfAStaleDirectory: an agent or an edge whose site
// directory is stale is not ready (issue 12: /readyz says the directory
// is fresh), whatever its EPMD and links say.
func TestReadinessOfAStaleDirectory(t *testing.T) {
	d := staleDirectory(t)
	if g := (&Gateway{dir: d}); !g.directoryStale() {
		t.Error("a directory whose etcd never answered is not stale")
	}
	if (&Gateway{}).directoryStale() {
		t.Error("a standalone gateway's directory is stale")
	}
	if ok, why := readiness(true, nil, true); ok || why != "site directory stale" {
		t.Errorf("readiness with a stale directory = %v, %q", ok, why)
	}
	if ok, why := readiness(true, []link.Summary{{State: link.StateDown}, {}}, false); ok || why != "1 of 2 links down" {
		t.Errorf("readiness with a link down = %v, %q", ok, why)
	}
	if ok, why := readiness(true, nil, false); !ok || why != "" {
		t.Errorf("readiness of a standalone gateway = %v, %q", ok, why)
	}
}
