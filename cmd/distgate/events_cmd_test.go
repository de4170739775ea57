package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/link"
	"github.com/distgate/distgate/gateway/proxy"
	"github.com/distgate/distgate/gateway/relay"
)

// evil is what a stranger may send as its node name (the public edge's
// send_name), a node registering with the EPMD, or a peer in a reason:
// terminal escapes (here, set the clipboard and clear the screen), a
// line that forges an event, a right-to-left override.
const evil = "x\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\x1b[2J\r\n2025-01-01 00:00:00.000  ended  " +
	"all good\u202egnp.exe\x9b31m@h"

// checkPrintable fails when out holds a control character other than the
// newlines of its want lines, or a bidirectional override.
func checkPrintable(t *testing.T, what, out string, lines int) {
	t.Helper()
	if n := strings.Count(out, "\n"); n != lines {
		t.Errorf("%s: %d lines, want %d:\n%s", what, n, lines, out)
	}
	for _, r := range strings.ReplaceAll(out, "\n", "") {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			t.Fatalf("%s: the output holds %U, a peer's or a node's word written raw to the terminal:\n%q", what, r, out)
		}
	}
	if !strings.Contains(out, `\x1b]52`) {
		t.Errorf("%s: the escape is not shown escaped:\n%s", what, out)
	}
}

// TestEventsAndWhyEscapeTheirWords: distgate events, why and status write
// node names, routes, links and reasons to a terminal; those are the
// words of anyone who registers with the EPMD, of strangers on the public
// edge and of peers. Control characters are shown escaped, never sent to
// the terminal, and cannot forge a line.
func TestEventsAndWhyEscapeTheirWords(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	evs := []events.Event{
		{Seq: 1, Time: now, Kind: events.Established, Caller: evil, Target: "y@h", Route: "site-b", Direction: "out", Transport: "quic", Link: evil},
		{Seq: 2, Time: now, Kind: events.Ended, Caller: evil, Target: "y@h", Route: "site-b", Direction: "out", Transport: "quic",
			Reason: events.PeerRefused, Detail: evil},
		{Seq: 3, Time: now, Kind: events.Refused, Caller: evil, Target: evil, Route: "public", Direction: "in", Transport: "tls-terminated",
			Reason: events.PolicyDenied, Detail: evil},
		{Seq: 4, Time: now, Kind: events.LinkDown, Route: evil, Link: evil, Direction: "out", Reason: events.LinkLost, Detail: evil},
	}
	for i := range evs {
		checkPrintable(t, "events: "+string(evs[i].Kind), eventLine(&evs[i])+"\n", 1)
	}

	st := &gateway.Status{Site: "site-a", Identity: evil,
		Registered: []gateway.NodeView{{Name: "x", Transports: []gateway.TransportView{{Proto: evil, Address: evil}}}},
		Relays:     []relay.Status{{ID: 1, Caller: evil, Target: "y@h", Site: "site-b", Transport: "quic", Started: now}},
		Peers:      []link.Summary{{Peer: "site-b", Transport: link.QUIC, State: "down", Down: evil}},
	}
	var b bytes.Buffer
	writeWhy(&b, "x", st, evs[:3], now)
	// The report's own lines: the title, a blank, registered, relays now
	// (none of x's: its caller is not x), a blank, the heading and three
	// events, a blank, the link, a blank and the verdict.
	checkPrintable(t, "why", b.String(), 13)

	st.Links = []link.Status{{Peer: evil, Transport: link.QUIC, Direction: "out", Remote: evil, Down: evil}}
	st.Proxies = []proxy.Status{{Target: evil, Port: 1, Via: evil}}
	b.Reset()
	writeStatus(&b, st, now)
	// Two header lines and a blank, the links' heading and row, a blank,
	// the relays' heading and row, a blank, the proxy ports' heading and
	// row.
	checkPrintable(t, "status", b.String(), 11)
}
