package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/epmd"
)

// TestPolicyTellsLookupFromListing: on the public EPMD, a PORT_PLEASE2 is
// a lookup of one name and NAMES a listing. An authorize policy written
// before the ABI told them apart (revision 0, in WAT) decides both as
// listing, as it always did; a policy of revision 1 can refuse the lookup
// and allow the listing, as the built-in router can.
func TestPolicyTellsLookupFromListing(t *testing.T) {
	s := prepareSite(t, "edge")
	s.cfg.Public = PublicConfig{EPMD: "127.0.0.1:0", Address: "127.0.0.1", Export: []string{"*"}, Names: true}
	s.cfg.Links.Off, s.cfg.Links.QUIC, s.cfg.Links.TLS = true, "", ""
	// Tests share two cores with other test binaries: no decision may
	// fail for want of time.
	s.cfg.Policy.CallTimeout = Duration(time.Second)
	s.start(t)
	startFakeNode(t, s, "web")
	public := &epmd.Client{Addr: s.gw.publicLn.Addr().String(), Timeout: 5 * time.Second}
	ctx := context.Background()
	ask := func() (lookedUp bool, listed int) {
		t.Helper()
		info, err := public.PortPlease(ctx, "web")
		if err != nil {
			t.Fatalf("PORT_PLEASE2: %v", err)
		}
		_, names, err := public.Names(ctx)
		if err != nil {
			t.Fatalf("NAMES: %v", err)
		}
		return info != nil, len(names)
	}
	if found, n := ask(); !found || n != 1 {
		t.Fatalf("built-in router: PORT_PLEASE2 found %v, NAMES listed %d; want true, 1", found, n)
	}
	for _, tc := range []struct {
		name   string
		module func() []byte
		found  bool
	}{
		{"revision 0", func() []byte { return build.WAT(t, "testdata/list_rev0.wat") }, true},
		{"revision 1", func() []byte { return build.Go(t, "testdata/nolookups") }, false},
	} {
		if _, err := s.gw.engine.Install(ctx, "authorize", tc.module(), nil); err != nil {
			t.Fatal(err)
		}
		s.gw.policies.refresh()
		if found, n := ask(); found != tc.found || n != 1 {
			t.Errorf("%s: PORT_PLEASE2 found %v, NAMES listed %d; want %v, 1", tc.name, found, n, tc.found)
		}
	}
}

// TestFailingAuthorizeDenies: with policy.on_failure: default, a lookup
// policy that fails gives way to the built-in router, but an authorize
// policy that fails denies: the built-in router would let a caller in
// that the policy was uploaded to keep out.
func TestFailingAuthorizeDenies(t *testing.T) {
	s := prepareSite(t, "edge")
	s.cfg.Public = PublicConfig{EPMD: "127.0.0.1:0", Address: "127.0.0.1", Export: []string{"*"}, Names: true}
	s.cfg.Links.Off, s.cfg.Links.QUIC, s.cfg.Links.TLS = true, "", ""
	s.cfg.Policy.OnFailure = onFailureDefault
	s.cfg.Policy.CallTimeout = Duration(time.Second)
	s.start(t)
	startFakeNode(t, s, "web")
	public := &epmd.Client{Addr: s.gw.publicLn.Addr().String(), Timeout: 5 * time.Second}
	ctx := context.Background()
	if info, err := public.PortPlease(ctx, "web"); err != nil || info == nil {
		t.Fatalf("built-in router: PORT_PLEASE2 web: %+v, %v", info, err)
	}
	if _, err := s.gw.engine.Install(ctx, "authorize", build.WAT(t, "testdata/authorize_trap.wat"), nil); err != nil {
		t.Fatal(err)
	}
	s.gw.policies.refresh()
	if info, err := public.PortPlease(ctx, "web"); err != nil || info != nil {
		t.Fatalf("a trapping authorize policy: PORT_PLEASE2 web: %+v, %v; want not found", info, err)
	}
	d := s.gw.policies.Authorize(ctx, ViaLink, &abi.AuthorizeRequest{Action: abi.ActionReach, Node: "web@" + s.hostname, Asker: abi.Asker{Site: "b"}})
	if d.Allow || d.Reason == "" {
		t.Fatalf("a trapping authorize policy decided %+v; want a refusal with a reason", d)
	}
}
