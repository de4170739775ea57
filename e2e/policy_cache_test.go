package e2e

import (
	"context"
	"errors"
	"testing"

	"github.com/distgate/distgate/epmd"
)

// TestPolicyRoutesReused (issue 8, item 6): the static-map sample allows
// its routes to be reused (CACHE_MS): the gateway answers the same lookup
// again without asking it, counted as cached; a new version of the policy
// answers at once with its own routes, none of the old version's.
func TestPolicyRoutesReused(t *testing.T) {
	t.Parallel()
	s := singleGateway(t, "gw")
	c := s.epmdClient()
	module := policyModule(t, "samples/policies/static-map")
	lookup := func(want string) {
		t.Helper()
		_, err := c.Lookup(context.Background(), epmd.LookupRequest{Node: "x@y.cache.example", Accept: []string{"inet_tcp"}})
		var se *epmd.StatusError
		if !errors.As(err, &se) || se.Status != epmd.StatusDenied || se.Message != want {
			t.Fatalf("lookup: %v, want a denial saying %q", err, want)
		}
	}
	s.push(t, "lookup", module, `{"routes": [{"match": "*@*.cache.example", "deny": "first"}]}`)
	for range 5 {
		lookup("first")
	}
	views := s.policies(t)
	if len(views) != 1 || views[0].Stats.Calls != 5 || views[0].Stats.Cached != 4 {
		t.Fatalf("after 5 lookups of one name: %+v, want 5 calls, 4 cached", views)
	}
	s.push(t, "lookup", module, `{"routes": [{"match": "*@*.cache.example", "deny": "second"}]}`)
	lookup("second")
	lookup("second")
	if _, errOut, code := s.cli(t, "policy", "rollback", "lookup"); code != 0 {
		t.Fatalf("rollback: %s", errOut)
	}
	lookup("first")
	if v := s.policies(t)[0]; v.Stats.Calls != 8 || v.Stats.Cached != 5 {
		t.Errorf("stats = %+v, want 8 calls, 5 cached", v.Stats)
	}
}
