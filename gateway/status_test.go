package gateway

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
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
