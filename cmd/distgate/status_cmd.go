package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distgate/distgate/gateway"
)

// statusMain shows links, proxy ports and relayed connections.
func statusMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintf(stderr, "distgate status: %v\n", err)
		return 1
	}
	var st gateway.Status
	if err := c.do("GET", "/v1/status", nil, "", &st); err != nil {
		fmt.Fprintf(stderr, "distgate status: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return 0
	}
	writeStatus(stdout, &st, time.Now())
	return 0
}

// writeStatus writes the status for people. Node names, peers' words and
// reasons are made printable: a tab in one would also break the columns.
func writeStatus(w io.Writer, st *gateway.Status, now time.Time) {
	fmt.Fprintf(w, "site %s  identity %s  up %s\n", printable(st.Site), printable(st.Identity), now.Sub(st.Started).Round(time.Second))
	fmt.Fprintf(w, "epmd %s  quic %s  tls %s  nodes %d  certificate until %s\n", printable(st.EPMD), printable(st.QUIC), printable(st.TLS), st.Nodes, st.CertExpires.Format(time.RFC3339))
	if d := st.Directory; d != nil {
		state := "current"
		if d.Stale {
			state = "STALE since " + d.StaleSince.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "role %s  member %s  directory %s (revision %d, %d members, %d nodes)\n", printable(st.Role), printable(d.Member), state, d.Revision, len(d.Members), d.Nodes)
		if len(d.Pending) > 0 {
			fmt.Fprintf(w, "registrations waiting for etcd: %s\n", printable(strings.Join(d.Pending, " ")))
		}
		if len(d.Conflicts) > 0 {
			fmt.Fprintf(w, "registrations another host holds: %s\n", printable(strings.Join(d.Conflicts, " ")))
		}
		if d.Rejected > 0 {
			fmt.Fprintf(w, "directory records refused: %d\n", d.Rejected)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINK\tTRANSPORT\tDIR\tREMOTE\tRTT\tSTREAMS\tBYTES OUT\tBYTES IN\tSTATE")
	for _, l := range st.Links {
		state := "up"
		if l.Down != "" {
			state = "down: " + printable(l.Down)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", printable(l.Peer), l.Transport, printable(l.Direction), printable(l.Remote), l.RTT.Round(time.Microsecond), l.Streams, l.BytesOut, l.BytesIn, state)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RELAY\tCALLER\tTARGET\tVIA\tTRANSPORT\tDIR\tBYTES OUT\tBYTES IN\tAGE")
	for _, r := range st.Relays {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, printable(r.Caller), printable(r.Target), printable(r.Site), printable(r.Transport), r.Direction, r.BytesOut, r.BytesIn, now.Sub(r.Started).Round(time.Second))
	}
	tw.Flush()
	if len(st.Proxies) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROXY PORT\tTARGET\tVIA\tACTIVE")
		for _, p := range st.Proxies {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", p.Port, printable(p.Target), printable(p.Via), p.Active)
		}
		tw.Flush()
	}
}
