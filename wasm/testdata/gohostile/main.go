// Command gohostile is a Go policy that misbehaves on request, by the
// node name it is asked about: "loop" spins, "panic" panics (the SDK
// recovers), "exit" exits the instance, "leak" keeps 4 MiB per call. Any
// other name routes locally.
package main

import (
	"os"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/abi/guest"
)

var leaked [][]byte

func lookup(req abi.LookupRequest) abi.Route {
	switch req.Name {
	case "loop":
		for n := 0; ; n++ {
			if n < 0 {
				break
			}
		}
	case "panic":
		panic("asked to panic")
	case "exit":
		os.Exit(3)
	case "leak":
		leaked = append(leaked, make([]byte, 4<<20))
	}
	return abi.Local()
}

var _ = guest.Register(func([]byte) (guest.Policy, error) {
	return guest.Policy{Lookup: lookup}, nil
})

func main() {}
