package wanem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
)

// TestbedConfig configures StartTestbed. Zero values mean the defaults of
// Config.
type TestbedConfig struct {
	// Name prefixes the namespaces' names, NAME-a and NAME-b; zero means
	// "wan" followed by the process ID and a random number.
	Name            string
	AB, BA          Settings
	MTU, MaxPackets int
	Seed            uint64
}

// Testbed is two sites, each a network namespace of its own, joined by an
// emulated WAN: the setting of a WAN test or benchmark.
type Testbed struct {
	A, B     Site
	Emulator *Emulator
}

// Site is one end of a Testbed: its namespace (run processes with
// Command, open sockets with Listen, Dial or Do) and its address on the
// link, which the other site reaches through the emulator. The namespace
// has only its loopback and the link: nothing leaves it.
type Site struct {
	Netns
	Addr netip.Addr
}

// StartTestbed creates two namespaces and an emulator between them. Close
// it when done, after stopping the processes started in its namespaces.
func StartTestbed(cfg TestbedConfig) (tb *Testbed, err error) {
	name := cfg.Name
	if name == "" {
		name = fmt.Sprintf("wan%d-%x", os.Getpid(), rand.Uint32())
	}
	tb = &Testbed{}
	defer func() {
		if err != nil {
			tb.Close()
			tb = nil
		}
	}()
	if tb.A.Netns, err = NewNetns(name + "-a"); err != nil {
		return tb, err
	}
	if tb.B.Netns, err = NewNetns(name + "-b"); err != nil {
		return tb, err
	}
	tb.Emulator, err = New(Config{
		A: Side{Netns: tb.A.Netns}, B: Side{Netns: tb.B.Netns},
		MTU: cfg.MTU, MaxPackets: cfg.MaxPackets, Seed: cfg.Seed,
		AB: cfg.AB, BA: cfg.BA,
	})
	if err != nil {
		return tb, err
	}
	c := tb.Emulator.Config()
	tb.A.Addr, tb.B.Addr = c.A.Addr.Addr(), c.B.Addr.Addr()
	return tb, nil
}

// Close stops the emulator and deletes both namespaces. It is idempotent.
func (tb *Testbed) Close() error {
	var errs []error
	if tb.Emulator != nil {
		errs = append(errs, tb.Emulator.Close())
	}
	for _, n := range []*Netns{&tb.A.Netns, &tb.B.Netns} {
		if *n != "" {
			errs = append(errs, n.Delete())
			*n = ""
		}
	}
	return errors.Join(errs...)
}
