package main

import (
	"testing"

	"github.com/distgate/distgate/abi"
)

const exampleConfig = `{"rules": [
  {"identity": "spiffe://example.org/web*", "site": "*", "actions": ["list", "reach"], "nodes": ["db*@*", "cache@*"]},
  {"identity": "", "site": "", "actions": ["register", "list", "reach"], "nodes": ["*"]}
]}`

func TestAuthorize(t *testing.T) {
	l, err := New([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	web := abi.Asker{Identity: "spiffe://example.org/web1", Site: "eu"}
	local := abi.Asker{}
	stranger := abi.Asker{Identity: "spiffe://evil.example/x", Site: "eu"}
	for _, tc := range []struct {
		action abi.Action
		node   string
		asker  abi.Asker
		want   bool
	}{
		{abi.ActionReach, "db1@h", web, true},
		{abi.ActionReach, "cache@h", web, true},
		{abi.ActionReach, "admin@h", web, false},
		{abi.ActionRegister, "db1", web, false},
		{abi.ActionList, "", web, true},
		{abi.ActionList, "db2@h", web, true},
		{abi.ActionList, "secret@h", web, false},
		{abi.ActionRegister, "anything", local, true},
		{abi.ActionList, "", stranger, false},
		{abi.ActionReach, "db1@h", stranger, false},
	} {
		got := l.Authorize(abi.AuthorizeRequest{Action: tc.action, Node: tc.node, Asker: tc.asker})
		if got.Allow != tc.want || (!got.Allow && got.Reason == "") {
			t.Errorf("%v %q by %q = %+v, want allow=%v", tc.action, tc.node, tc.asker.Identity, got, tc.want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{`x`, `{"rules": [{"actions": ["delete"]}]}`, `{"rules": [{"actions": ["list"], "nodes": ["["]}]}`} {
		if _, err := New([]byte(c)); err == nil {
			t.Errorf("New(%s) succeeded", c)
		}
	}
}
