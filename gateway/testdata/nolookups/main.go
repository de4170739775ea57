// Command nolookups is an authorize policy of ABI revision 1 for the
// gateway's tests: it lets anyone list names and refuses every lookup of
// one name (AuthorizeRequest.Lookup), which a policy of revision 0 cannot
// tell from a listing.
package main

import (
	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/abi/guest"
)

var _ = guest.Register(func([]byte) (guest.Policy, error) {
	return guest.Policy{Authorize: func(req abi.AuthorizeRequest) abi.Decision {
		if req.Lookup {
			return abi.Refuse("no lookups by name")
		}
		return abi.Allow()
	}}, nil
})

func main() {}
