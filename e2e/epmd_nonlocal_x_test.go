package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/distgate/distgate/epmd"
)

// TestNonLocalExtensionAsksPolicy: a gateway whose classic EPMD listens
// beyond loopback answers NAMES_X and LOOKUP_X from another host (a
// network namespace) only as its authorize policy allows, as the public
// EPMD does; requests from this host are not asked about.
func TestNonLocalExtensionAsksPolicy(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	s := newGatewaySite(t, "site-n")
	addr := net.JoinHostPort(ns.Host, strconv.Itoa(s.epmdPort))
	writeFile(t, s.config, fmt.Sprintf("site: site-n\ndata_dir: %s\nepmd: {listen: %q}\nadmin: {listen: %q}\nlinks: {off: true}\n",
		filepath.Join(s.dir, "data"), addr, s.admin))
	s.proc = startProc(t, nil, distgateBin(t), "run", "-config", s.config)
	waitListening(t, addr, s.proc)
	waitListening(t, s.admin, s.proc)
	ctx := context.Background()
	local := &epmd.Client{Addr: addr} // from the socket's own address: local
	for i, name := range []string{"pub", "secret"} {
		r, err := local.Register(ctx, epmd.Alive2{Port: uint16(5001 + i), NodeType: 'M', Protocol: 0, HighVsn: 6, LowVsn: 6, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
	}
	remote := &epmd.Client{Addr: addr, DialContext: func(_ context.Context, _, addr string) (net.Conn, error) { return ns.dialFrom(addr) }}
	names := func(c *epmd.Client) ([]string, error) {
		nodes, err := c.NamesX(ctx)
		var out []string
		for _, n := range nodes {
			out = append(out, n.Name)
		}
		slices.Sort(out)
		return out, err
	}
	lookup := func(c *epmd.Client, name string) error {
		_, err := c.Lookup(ctx, epmd.LookupRequest{Node: name})
		return err
	}
	denied := func(err error) bool {
		var se *epmd.StatusError
		return errors.As(err, &se) && se.Status == epmd.StatusDenied
	}
	check := func(phase string, wantNames []string, wantLookup map[string]bool) {
		t.Helper()
		got, err := names(remote)
		switch {
		case wantNames == nil && !denied(err):
			t.Errorf("%s: NAMES_X from %s = %v, %v; want a denial", phase, ns.Peer, got, err)
		case wantNames != nil && (err != nil || !slices.Equal(got, wantNames)):
			t.Errorf("%s: NAMES_X from %s = %v, %v; want %v", phase, ns.Peer, got, err, wantNames)
		}
		for name, ok := range wantLookup {
			if err := lookup(remote, name); ok && err != nil || !ok && !denied(err) {
				t.Errorf("%s: LOOKUP_X %s from %s: %v; want allowed %v", phase, name, ns.Peer, err, ok)
			}
		}
		// This host is not asked about.
		if got, err := names(local); err != nil || !slices.Equal(got, []string{"pub", "secret"}) {
			t.Errorf("%s: local NAMES_X = %v, %v", phase, got, err)
		}
		if err := lookup(local, "secret"); err != nil {
			t.Errorf("%s: local LOOKUP_X secret: %v", phase, err)
		}
	}
	// The built-in policy treats an asker from another host as the public
	// EPMD does: no listing (public.names is off), nothing exported.
	check("built-in", nil, map[string]bool{"pub": false, "secret": false})
	// A policy that lets everyone reach nodes but list none.
	allowlist := policyModule(t, "samples/policies/allowlist")
	s.push(t, "authorize", allowlist, `{"rules": [{"identity": "", "site": "", "actions": ["reach"], "nodes": ["*"]}]}`)
	check("no listing", nil, map[string]bool{"pub": false, "secret": false})
	// A policy that shows pub* only.
	s.push(t, "authorize", allowlist, `{"rules": [{"identity": "", "site": "", "actions": ["list"], "nodes": ["pub*"]}]}`)
	check("pub only", []string{"pub"}, map[string]bool{"pub": true, "secret": false})
}
