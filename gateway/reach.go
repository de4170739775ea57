package gateway

import (
	"context"
	"time"

	"github.com/distgate/distgate/abi"
	"github.com/distgate/distgate/gateway/filtering"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/relay"
	"github.com/distgate/distgate/gateway/terminate"
)

// reachPolicy implements terminate.Policy with the router: a TLS caller
// reaches a node over the public edge.
type reachPolicy struct {
	router Router
	trust  *pki.Trust // tells whether a caller's certificate is also a remote query client's
}

// Reach implements terminate.Policy. The caller's identity is verified by
// public.client_ca, and by remote.client_ca too when that CA signs the
// same certificate: the policy sees both roots, and the built-in router
// applies remote.allow only to identities of the second.
func (r reachPolicy) Reach(ctx context.Context, c terminate.Caller) (bool, string) {
	d := r.router.Authorize(ctx, ViaPublic, &abi.AuthorizeRequest{Action: abi.ActionReach, Node: c.Target, Asker: r.asker(c)})
	return d.Allow, d.Reason
}

// asker is a TLS caller as policies see it.
func (r reachPolicy) asker(c terminate.Caller) abi.Asker {
	a := abi.Asker{Identity: c.Identity, Node: c.Node, Addr: c.Addr}
	if c.Identity != "" {
		a.Verified |= abi.VerifiedIdentity
		a.Roots = []string{abi.RootPublic}
		if r.trust != nil && r.trust.IsClient(c.Chain, time.Now()) {
			a.Roots = append(a.Roots, abi.RootRemote)
		}
	}
	return a
}

// filterCaller is terminate.Config.Filter: the filter sees a TLS caller
// as the reach policy does, over the public channel.
func (r reachPolicy) filterCaller(h *filtering.Hub) func(context.Context, terminate.Caller, relay.Stream, filtering.Conn) (relay.Stream, error) {
	return func(ctx context.Context, c terminate.Caller, s relay.Stream, fc filtering.Conn) (relay.Stream, error) {
		fc.Asker, fc.Via = r.asker(c), ViaPublic.String()
		fs, _, err := h.Wrap(ctx, s, fc)
		return fs, err
	}
}
