package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/gateway/events"
)

// whyLast is how many of a node's latest events `distgate why` reads.
const whyLast = 12

// whyMain prints, in one screen, what the gateway knows of a node's last
// connections: whether it is registered here, its relays now, its latest
// events, the links its routes cross, and why its last connection ended.
func whyMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("why", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	var operands []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		operands = append(operands, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(operands) != 1 {
		fmt.Fprintln(stderr, "usage: distgate why NODE   (name@host, or the name alone)")
		return 2
	}
	node := operands[0]
	c, err := af.client()
	if err != nil {
		fmt.Fprintf(stderr, "distgate why: %v\n", err)
		return 1
	}
	var st gateway.Status
	var ans gateway.EventsAnswer
	if err := c.do("GET", "/v1/status", nil, "", &st); err != nil {
		fmt.Fprintf(stderr, "distgate why: %v\n", err)
		return 1
	}
	if err := c.do("GET", "/v1/events?"+url.Values{"node": {node}, "limit": {fmt.Sprint(whyLast)}}.Encode(), nil, "", &ans); err != nil {
		fmt.Fprintf(stderr, "distgate why: %v\n", err)
		return 1
	}
	writeWhy(stdout, node, &st, ans.Events, time.Now())
	return 0
}

// writeWhy writes the report of `distgate why`. Its words, anybody's,
// are made printable (say, eventLine).
func writeWhy(w io.Writer, node string, st *gateway.Status, evs []events.Event, now time.Time) {
	say(w, "%s, as gateway %s (site %s) knows it\n\n", node, st.Identity, st.Site)
	name, _, _ := strings.Cut(node, "@")
	registered := false
	for _, n := range st.Registered {
		if n.Name == name {
			registered = true
			var ts []string
			for _, t := range n.Transports {
				ts = append(ts, t.Proto+" "+t.Address)
			}
			say(w, "registered here: yes (%s)\n", strings.Join(ts, ", "))
		}
	}
	if !registered {
		say(w, "registered here: no\n")
	}
	probe := events.Event{}
	sites := map[string]bool{}
	var open []string
	for _, r := range st.Relays {
		probe.Caller, probe.Target = r.Caller, r.Target
		if probe.Concerns(node) {
			open = append(open, fmt.Sprintf("  #%d %s -> %s  %s %s  up %v", r.ID, r.Caller, r.Target, routeText(r.Site, r.Direction.String()),
				r.Transport, now.Sub(r.Started).Round(time.Second)))
			sites[r.Site] = true
		}
	}
	say(w, "relayed connections now: %d\n", len(open))
	for _, l := range open {
		say(w, "%s\n", l)
	}
	say(w, "\n")
	if len(evs) == 0 {
		say(w, "no event of this node is kept (the gateway keeps its latest events; the structured log has the rest)\n")
		return
	}
	say(w, "latest events, newest first:\n")
	var last *events.Event
	for i := len(evs) - 1; i >= 0; i-- {
		e := &evs[i]
		say(w, "  %s\n", eventLine(e))
		if e.Route != "" && e.Route != "public" {
			sites[e.Route] = true
		}
		if last == nil && (e.Kind == events.Ended || e.Kind == events.Refused) {
			last = e
		}
	}
	say(w, "\n")
	for _, p := range st.Peers {
		if sites[p.Peer] {
			line := fmt.Sprintf("link to %s over %s: %s", p.Peer, p.Transport, p.State)
			if p.State == "up" {
				line += fmt.Sprintf(", rtt %v, %d streams", p.RTT.Round(10*time.Microsecond), p.Streams)
			}
			if p.Down != "" {
				line += " (" + p.Down + ")"
			}
			say(w, "%s\n", line)
		}
	}
	if last != nil {
		say(w, "\n=> %s\n", verdict(last, now))
	}
}

// verdict says in a sentence why a relay ended or was refused.
func verdict(e *events.Event, now time.Time) string {
	when := fmt.Sprintf("%s (%v ago)", e.Time.Local().Format("15:04:05"), now.Sub(e.Time).Round(time.Second))
	what := fmt.Sprintf("the connection %s -> %s", e.Caller, e.Target)
	if e.Kind == events.Refused {
		what += " was refused at " + when
	} else {
		what += fmt.Sprintf(" ended at %s after %v", when, e.Duration.Round(time.Second))
	}
	var why string
	switch e.Reason {
	case events.CallerClosed:
		why = fmt.Sprintf("the caller, %s, closed it (it went down or disconnected)", e.Caller)
	case events.TargetClosed:
		why = fmt.Sprintf("the target, %s, closed it (it went down or disconnected)", e.Target)
	case events.LinkLost:
		why = fmt.Sprintf("the link to %s (%s) was lost", e.Route, e.Transport)
	case events.LivenessExpired:
		why = fmt.Sprintf("the link to %s (%s) went silent for longer than the route's liveness", e.Route, e.Transport)
	case events.PolicyDenied:
		why = "a policy refused it"
	case events.TargetUnknown:
		why = fmt.Sprintf("%s is not registered where the route leads", e.Target)
	case events.TargetUnreachable:
		why = fmt.Sprintf("%s is registered but did not accept the connection", e.Target)
	case events.PeerRefused:
		why = fmt.Sprintf("the peer gateway of %s refused it", e.Route)
	case events.NoLink:
		why = fmt.Sprintf("no link to %s could be opened", e.Route)
	case events.GatewayShutdown:
		why = "this gateway stopped"
	default:
		why = e.Reason.Text()
	}
	if e.Detail != "" {
		why += ": " + e.Detail
	}
	return what + ": " + why + "."
}
