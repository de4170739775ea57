package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway/directory"
)

// TestStatusSchemaDocumented: every field of GET /v1/status, nested ones
// included, is described in STATUS.md, which names the schema version.
func TestStatusSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile("STATUS.md")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile("schema "+"1\\b").Match(doc) || StatusSchema != 1 {
		t.Fatalf("STATUS.md documents another schema than %d", StatusSchema)
	}
	a, b := twoSites(t, "quic")
	startFakeNode(t, b, "y")
	startFakeNode(t, a, "x")
	c, _, err := dialRemote(t, a, "y@n1.site-b.example", "x@n1.site-a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the relay", func() bool { return a.gw.relays.Len() == 1 })
	raw, err := json.Marshal(a.gw.Status())
	if err != nil {
		t.Fatal(err)
	}
	var v any
	json.Unmarshal(raw, &v)
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				seen[k] = true
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	for _, must := range []string{"registered", "peers", "relays", "proxies", "transports", "bytes_in", "link"} {
		if !seen[must] {
			t.Fatalf("the status has no %q to check: %s", must, raw)
		}
	}
	for field := range seen {
		if !regexp.MustCompile("`" + regexp.QuoteMeta(field) + "`").Match(doc) {
			t.Errorf("STATUS.md does not describe the field %q", field)
		}
	}
}

// TestPageDirectoryHosts: the page is sent the site's members the
// topology draws, this gateway first, then the edges, then the agents by
// host, at most pageMembers of them, with how many there are in all.
func TestPageDirectoryHosts(t *testing.T) {
	st := &directory.Status{Member: "a05", Stale: true, StaleSince: time.Unix(1700000000, 0), Nodes: 3}
	for i := 19; i >= 0; i-- {
		m := directory.Member{ID: fmt.Sprintf("a%02d", i), Role: directory.RoleAgent, Host: fmt.Sprintf("h%02d.example", i)}
		if i >= 18 {
			m.ID, m.Role, m.Load = fmt.Sprintf("e%02d", i), directory.RoleEdge, i
		}
		st.Members = append(st.Members, m)
	}
	pd := pageDirectory(st, map[string]int{"a05": 2, "a07": 1})
	if pd.Members != 20 || pd.Edges != 2 || len(pd.Hosts) != pageMembers || !pd.Stale || pd.Member != "a05" {
		t.Fatalf("members %d, edges %d, hosts %d, stale %t, member %q", pd.Members, pd.Edges, len(pd.Hosts), pd.Stale, pd.Member)
	}
	var order []string
	for _, h := range pd.Hosts {
		order = append(order, h.ID)
	}
	want := []string{"a05", "e18", "e19", "a00", "a01", "a02", "a03", "a04", "a06", "a07", "a08", "a09", "a10", "a11", "a12", "a13"}
	if !slices.Equal(order, want) {
		t.Fatalf("hosts %v, want %v", order, want)
	}
	if h := pd.Hosts[0]; !h.Self || h.Nodes != 2 || h.Role != "agent" || h.Host != "h05.example" {
		t.Errorf("this gateway: %+v", h)
	}
	if h := pd.Hosts[2]; h.Self || h.Role != "edge" || h.Load != 19 {
		t.Errorf("an edge: %+v", h)
	}
	if h := pd.Hosts[9]; h.Nodes != 1 {
		t.Errorf("a07: %+v", h)
	}
	raw, err := json.Marshal(pd)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"hosts":[{"id":"a05","role":"agent","host":"h05.example","self":true,"load":0,"nodes":2}`, `"stale_since":`, `"member":"a05"`, `"members":20`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("the page's directory has no %s: %s", field, raw)
		}
	}
	// A site of one: only this gateway; none, an empty list.
	if pd := pageDirectory(&directory.Status{Member: "a1"}, nil); pd.Hosts == nil || len(pd.Hosts) != 0 {
		t.Errorf("no members: hosts %#v", pd.Hosts)
	}
}
