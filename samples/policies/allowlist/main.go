// Command allowlist is a distgate access policy: it allows an asker to
// list, reach or register node names when a rule names the asker's client
// identity (or site) and a pattern of the node's name. Everything else is
// refused. See README.md.
package main

import (
	"encoding/json"
	"fmt"
	"path"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/abi/guest"
)

// Config is the policy's configuration blob.
type Config struct {
	Rules []Rule `json:"rules"` // any matching rule allows
}

// Rule allows Actions on Nodes to the askers whose identity matches
// Identity and whose site matches Site. Patterns use path.Match syntax
// ('*' does not cross '/'); an empty pattern matches only an empty value
// (a local asker has no site, an asker without a certificate no identity).
type Rule struct {
	Identity string   `json:"identity"`
	Site     string   `json:"site"`
	Actions  []string `json:"actions"` // "list", "reach", "register"
	Nodes    []string `json:"nodes"`   // patterns on the node name
}

// List is a parsed configuration.
type List struct {
	rules []rule
}

type rule struct {
	Rule
	actions map[abi.Action]bool
}

var actionNames = map[string]abi.Action{"list": abi.ActionList, "reach": abi.ActionReach, "register": abi.ActionRegister}

// New parses and checks a configuration.
func New(config []byte) (*List, error) {
	var c Config
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("allowlist: config: %w", err)
	}
	l := &List{}
	for i, r := range c.Rules {
		rr := rule{Rule: r, actions: map[abi.Action]bool{}}
		for _, a := range r.Actions {
			act, ok := actionNames[a]
			if !ok {
				return nil, fmt.Errorf("allowlist: rule %d: unknown action %q (list, reach, register)", i, a)
			}
			rr.actions[act] = true
		}
		for _, p := range append([]string{r.Identity, r.Site}, r.Nodes...) {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("allowlist: rule %d: bad pattern %q", i, p)
			}
		}
		l.rules = append(l.rules, rr)
	}
	return l, nil
}

func match(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

// Authorize allows when a rule matches the asker, the action and the node.
// Asking to list with no node (may the asker list at all) needs a rule
// granting "list", whatever its nodes.
func (l *List) Authorize(req abi.AuthorizeRequest) abi.Decision {
	for _, r := range l.rules {
		if !r.actions[req.Action] || !match(r.Identity, req.Asker.Identity) || !match(r.Site, req.Asker.Site) {
			continue
		}
		if req.Action == abi.ActionList && req.Node == "" {
			return abi.Allow()
		}
		for _, n := range r.Nodes {
			if match(n, req.Node) {
				return abi.Allow()
			}
		}
	}
	who := req.Asker.Identity
	if who == "" {
		who = "an asker without identity"
	}
	return abi.Refuse(fmt.Sprintf("allowlist: %s may not %s %q", who, req.Action, req.Node))
}

var _ = guest.Register(func(config []byte) (guest.Policy, error) {
	l, err := New(config)
	if err != nil {
		return guest.Policy{}, err
	}
	return guest.Policy{Authorize: l.Authorize}, nil
})

func main() {}
