package gateway

import (
	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/relay"
)

// relayEvents is the relay table's Observer and the links' OnState: each
// relay's start, refusal and end, and each link's change, counted in the
// metrics and kept in the event log.
type relayEvents struct {
	metrics *metrics
	log     *events.Log
}

// Started implements relay.Observer.
func (o *relayEvents) Started(ri *relay.Info) {
	o.metrics.started(ri)
	o.log.Add(events.Event{
		Time: ri.Started, Kind: events.Established, Relay: ri.ID, Caller: ri.Caller, Target: ri.Target, Route: ri.Site,
		Direction: ri.Direction.String(), Transport: ri.Transport, Link: ri.Link,
	})
}

// Ended implements relay.Observer.
func (o *relayEvents) Ended(ri *relay.Info) {
	o.metrics.ended(ri)
	o.log.Add(events.Event{
		Time: ri.Ended, Kind: events.Ended, Relay: ri.ID, Caller: ri.Caller, Target: ri.Target, Route: ri.Site,
		Direction: ri.Direction.String(), Transport: ri.Transport, Link: ri.Link, Reason: ri.Reason, Detail: ri.Detail,
		Duration: ri.Ended.Sub(ri.Started), BytesToTarget: ri.BytesToTarget(), BytesToCaller: ri.BytesToCaller(),
	})
}

// Refused implements relay.Observer.
func (o *relayEvents) Refused(r *relay.Refusal) {
	o.metrics.refused(r)
	o.log.Add(events.Event{
		Kind: events.Refused, Caller: r.Caller, Target: r.Target, Route: r.Site, Direction: r.Direction.String(),
		Transport: r.Transport, Reason: r.Reason, Detail: r.Detail,
	})
}

// linkChanged is the links' OnState. A link that failed goes down with
// its reason (link lost, liveness expired); one let go, with none.
func (o *relayEvents) linkChanged(st link.State) {
	e := events.Event{Kind: events.LinkUp, Route: st.Peer, Transport: st.Transport.String(), Direction: st.Direction,
		Link: st.Transport.String() + " " + st.Remote}
	if st.Liveness > 0 {
		e.Link += " liveness " + st.Liveness.String()
	}
	if !st.Up {
		e.Kind = events.LinkDown
		if st.Reason != nil {
			e.Detail = st.Reason.Error()
		}
		if st.Failed {
			if r, ok := link.EndReason(st.Reason); ok {
				e.Reason = r
			} else {
				e.Reason = events.LinkLost
			}
		}
	}
	o.log.Add(e)
}
