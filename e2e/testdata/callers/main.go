// Command callers is an authorize policy for the end-to-end tests: it
// refuses to let anyone reach the nodes its configuration names (by their
// full names), refuses callers from peer sites whose node name the peer
// gateway could not verify when verified_callers_only is set, and allows
// everything else.
package main

import (
	"encoding/json"
	"slices"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/abi/guest"
)

type config struct {
	Deny                []string `json:"deny"`                  // full node names no one may reach
	VerifiedCallersOnly bool     `json:"verified_callers_only"` // refuse unauthenticated callers over links
}

var _ = guest.Register(func(b []byte) (guest.Policy, error) {
	var c config
	if len(b) > 0 {
		if err := json.Unmarshal(b, &c); err != nil {
			return guest.Policy{}, err
		}
	}
	return guest.Policy{Authorize: func(req abi.AuthorizeRequest) abi.Decision {
		if req.Action != abi.ActionReach {
			return abi.Allow()
		}
		if slices.Contains(c.Deny, req.Node) {
			return abi.Refuse(req.Node + " may not be reached")
		}
		if c.VerifiedCallersOnly && req.Asker.Site != "" && req.Asker.Verified&abi.VerifiedNode == 0 {
			return abi.Refuse("unauthenticated caller (says " + req.Asker.Node + ")")
		}
		return abi.Allow()
	}}, nil
})

func main() {}
