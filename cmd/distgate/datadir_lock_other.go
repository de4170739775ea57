//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "github.com/distgate/distgate/gateway/datadir"

// lockDataDir creates and checks the data directory (datadir.Ensure). This
// system has no flock(2): two gateways sharing one data directory are not
// detected here.
func lockDataDir(dir string) (unlock func(), err error) {
	if err := datadir.Ensure(dir); err != nil {
		return nil, err
	}
	return func() {}, nil
}
