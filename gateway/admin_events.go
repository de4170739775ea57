package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/distgate/distgate/gateway/events"
)

// EventsAnswer is the answer of GET /v1/events without follow.
type EventsAnswer struct {
	Events []events.Event `json:"events"`
	Last   uint64         `json:"last"` // the latest event's number: ask for since=last to go on
}

// getEvents answers GET /v1/events?node=NAME&since=SEQ&limit=N[&follow=1]:
// the events kept after since that concern node, oldest first, at most
// limit of them (the latest); with follow, one event per line (JSON) as
// they come, until the client goes, stops reading (followWriteTimeout)
// or the gateway stops.
func (a *adminServer) getEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	node := q.Get("node")
	since, _ := strconv.ParseUint(q.Get("since"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if q.Get("follow") == "" {
		evs := a.events.Since(since, node, limit)
		writeJSON(w, http.StatusOK, EventsAnswer{Events: nonNil(evs), Last: a.events.Last()})
		return
	}
	a.followers.Add(1)
	defer a.followers.Add(-1)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	seq := since
	for first := true; ; first = false {
		// The events up to last, read first: those added while this
		// batch is written are sent with the next one, not skipped.
		last := a.events.Last()
		evs := a.events.Since(seq, node, 0)
		for len(evs) > 0 && evs[len(evs)-1].Seq > last {
			evs = evs[:len(evs)-1]
		}
		if first && limit > 0 && len(evs) > limit {
			evs = evs[len(evs)-limit:]
		}
		rc.SetWriteDeadline(time.Now().Add(followWriteTimeout))
		for i := range evs {
			if enc.Encode(&evs[i]) != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
		rc.SetWriteDeadline(time.Time{}) // waiting is not writing
		seq = max(seq, last)
		if a.events.Wait(r.Context(), seq) != nil {
			return
		}
	}
}

// UILogin is the answer of POST /v1/ui/login: a one-time code for the
// status page, and the path that spends it.
type UILogin struct {
	Path    string    `json:"path"` // /ui/login?code=...
	Expires time.Time `json:"expires"`
}

func (a *adminServer) uiLogin(w http.ResponseWriter, _ *http.Request) {
	code, expires := a.ui.NewCode()
	writeJSON(w, http.StatusOK, UILogin{Path: "/ui/login?code=" + code, Expires: expires})
}

// healthz answers while the gateway runs.
func (a *adminServer) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// readyz answers 200 when the gateway serves (its EPMD answers, no
// configured link is down), else 503 with what is not ready, in counts:
// it names no node, peer or address.
func (a *adminServer) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	ok, why := a.readiness()
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: " + why + "\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

// readiness is ready, checked at most once per readyzCacheFor: probes that
// come together wait for one check and share it.
func (a *adminServer) readiness() (bool, string) {
	a.readyMu.Lock()
	defer a.readyMu.Unlock()
	now := a.now()
	if a.readyAt.IsZero() || now.Sub(a.readyAt) >= readyzCacheFor || now.Before(a.readyAt) {
		a.readyOK, a.readyNo = a.ready()
		a.readyAt = now
	}
	return a.readyOK, a.readyNo
}

// followWriteTimeout bounds the writing of one batch of followed events:
// a follower that stopped reading is dropped rather than holding its
// goroutine, connection and events until the gateway stops. A variable
// for the tests.
var followWriteTimeout = 30 * time.Second
