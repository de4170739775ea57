package link

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/relay"
)

// errClosedWithoutNotify is what a TLS link stream reads when the peer's
// TCP connection ended without a TLS close_notify: the peer gateway or the
// network went away, and bytes may be missing. crypto/tls reports it as a
// clean end (io.EOF) at a record boundary; a relay must abort instead.
var errClosedWithoutNotify = fmt.Errorf("tls link: the connection ended without a close_notify: %w", io.ErrUnexpectedEOF)

// EndReason tells whether err, read from or written to a link stream,
// means that the link failed, and how: its liveness expired (its control
// stream heard nothing for the liveness, here or at the peer gateway; a
// QUIC idle timeout, a TCP user timeout or keep-alive failure), or it was
// lost (reset, closed by the peer gateway, closed without a TLS close). A
// stream reset by the peer gateway is not a link failure: the peer's
// relay ended on its own far side.
func EndReason(err error) (events.Reason, bool) {
	var (
		idle  *quic.IdleTimeoutError
		app   *quic.ApplicationError
		tr    *quic.TransportError
		reset *quic.StatelessResetError
		hs    *quic.HandshakeTimeoutError
		se    *quic.StreamError
	)
	switch {
	case err == nil:
		return "", false
	case errors.As(err, &se):
		return "", false
	case errors.As(err, &idle), errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, errSilent),
		errors.As(err, &app) && app.ErrorCode == codeSilent:
		return events.LivenessExpired, true
	case errors.As(err, &app), errors.As(err, &tr), errors.As(err, &reset), errors.As(err, &hs),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return events.LinkLost, true
	}
	return "", false
}

// RefusalReason tells why Open failed: the peer gateway's refusal (its
// policy, an unknown or unreachable target, a bad request), else no link.
func RefusalReason(err error) events.Reason {
	var le *linkwire.Error
	if errors.As(err, &le) {
		return StatusReason(le.Status)
	}
	return events.NoLink
}

// StatusReason is the reason of a refusal with a link reply status.
func StatusReason(s linkwire.Status) events.Reason {
	switch s {
	case linkwire.StatusDenied:
		return events.PolicyDenied
	case linkwire.StatusNotFound:
		return events.TargetUnknown
	case linkwire.StatusUnreachable:
		return events.TargetUnreachable
	}
	return events.PeerRefused
}

// Describe names the link a stream crosses, for the event log: the
// transport, the peer gateway's address and, on links this gateway
// dialled, the route's liveness.
func Describe(s relay.Stream) string {
	switch s := s.(type) {
	case *countedStream:
		return fmt.Sprintf("quic %s liveness %v", s.conn.RemoteAddr(), s.link.key.liveness)
	case quicStream:
		return "quic " + s.conn.RemoteAddr().String()
	case *trackedTLS:
		return fmt.Sprintf("tls %s liveness %v", s.RemoteAddr(), s.ctl.key.liveness)
	case *tlsLink:
		return "tls " + s.RemoteAddr().String()
	}
	return "link"
}
