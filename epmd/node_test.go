package epmd

import "testing"

func TestJoinSplitNode(t *testing.T) {
	for _, tc := range []struct{ node, name, host string }{
		{"a@h.example", "a", "h.example"},
		{"a", "a", ""},
		{"a@", "a", ""},
	} {
		name, host := SplitNode(tc.node)
		if name != tc.name || host != tc.host {
			t.Errorf("SplitNode(%q) = %q, %q", tc.node, name, host)
		}
		if tc.node != "a@" && JoinNode(name, host) != tc.node {
			t.Errorf("JoinNode(%q, %q) = %q", name, host, JoinNode(name, host))
		}
	}
}
