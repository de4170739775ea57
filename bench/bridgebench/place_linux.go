package main

import (
	"context"
	"net"

	"github.com/distgate/distgate/bench/wanem"
)

// place is where a process of a path runs: the bench's own network (the
// loopback bench), or one site of the WAN testbed (-wan): its network
// namespace, and the address the other site reaches it at.
type place struct {
	ns   wanem.Netns // "": the bench's own namespace
	addr string      // how the other side reaches this place
}

// local is the loopback bench's only place.
var local = place{addr: "127.0.0.1"}

// siteOf is a site of a WAN testbed as a place.
func siteOf(s wanem.Site) place { return place{ns: s.Netns, addr: s.Addr.String()} }

// command returns how to run path with args at the place: in a site,
// through `ip netns exec`, which execs path (the PID is path's own).
func (p place) command(path string, args ...string) (string, []string) {
	if p.ns == "" {
		return path, args
	}
	return "ip", append([]string{"netns", "exec", string(p.ns), path}, args...)
}

// dial dials addr from the place.
func (p place) dial(ctx context.Context, addr string) (net.Conn, error) {
	if p.ns == "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	return p.ns.Dial(ctx, "tcp", addr)
}
