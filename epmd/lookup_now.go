package epmd

import (
	"context"
	"net"
	"strings"
)

// QuickResolver is a Resolver that can answer some queries at once,
// without waiting for anything (no policy to call, no connection to open):
// those are answered on the goroutine that accepts connections, as the
// PORT_PLEASE2 of a registered name is (answerNow), and the others by a
// connection goroutine through Resolve. LocalResolver is one; a gateway
// answers so from its built-in router and from the routes its policies
// allowed it to reuse.
type QuickResolver interface {
	Resolver
	// ResolveQuick answers q if it can without waiting; ok false sends q
	// to Resolve. It must not block.
	ResolveQuick(q Query) (a Answer, ok bool)
}

// ResolveQuick implements QuickResolver: LocalResolver never waits.
func (r LocalResolver) ResolveQuick(q Query) (Answer, bool) {
	return r.Resolve(context.Background(), q), true
}

// lookupQuery builds the resolver's query for a full-name lookup from the
// registry.
func (s *Server) lookupQuery(c net.Conn, q LookupRequest) Query {
	name, host := SplitNode(q.Node)
	query := Query{Name: name, Host: host, Accept: q.Accept, Asker: q.Asker, Peer: peerAddr(c), LocalPeer: isLocalPeer(c), ServerAddr: serverAddr(c)}
	s.regMu.RLock()
	query.Local, query.Registered = s.reg.Lookup(name, q.Accept)
	regHost := s.reg.Host(name)
	s.regMu.RUnlock()
	query.LocalHost = s.isLocalHost(host) || (regHost != "" && strings.EqualFold(regHost, host))
	return query
}

// answerLookupNow answers, on the accepting goroutine, a LOOKUP_X whose
// whole frame (b, peeked) is in, when the resolver can answer it at once
// (QuickResolver). It consumes the request and closes the connection
// when it answers; otherwise it leaves both, for handle. The reply of at
// most MaxEndpoints endpoints fits in the send buffer of a new socket, so
// the write does not block.
func (s *Server) answerLookupNow(c net.Conn, b []byte) bool {
	qr, ok := s.resolver.(QuickResolver)
	if !ok || len(b) < 4 {
		return false
	}
	if want, ok := FrameLen([2]byte{b[0], b[1]}); !ok || len(b) != want+2 {
		return false
	}
	req := b[2:]
	if req[1] == 0 {
		return false // a bad request: handle answers it
	}
	q, err := parseLookup(req)
	if err != nil {
		return false
	}
	query := s.lookupQuery(c, q)
	if !query.LocalPeer && s.cfg.NonLocal != nil {
		return false // a peer on another host: handle asks the policy first
	}
	ans, ok := qr.ResolveQuick(query)
	if !ok {
		return false
	}
	recvNow(c, b, false) // consume what was peeked
	if _, err := c.Write(appendLookupReply(nil, ans.Status, fillAddrs(ans.Endpoints, c), ans.Message)); err != nil {
		s.log.Debug("epmd: write reply", "err", err)
	}
	c.Close()
	return true
}
