package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/distgate/distgate/epmd"
)

// namesMain lists the nodes registered with a distgate EPMD and every
// transport of each, falling back to the classic NAMES of a stock epmd.
func namesMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("names", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", envPort(), "EPMD `port` (ERL_EPMD_PORT)")
	host := fs.String("host", "127.0.0.1", "EPMD `host`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := &epmd.Client{Addr: net.JoinHostPort(*host, strconv.Itoa(*port))}
	ctx := context.Background()
	nodes, err := c.NamesX(ctx)
	if errors.Is(err, epmd.ErrNoExtension) {
		_, names, err := c.Names(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "distgate names: %v\n", err)
			return 1
		}
		for _, n := range names {
			fmt.Fprintf(stdout, "name %s at port %d\n", n.Name, n.Port)
		}
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "distgate names: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATION\tTRANSPORTS")
	for _, n := range nodes {
		name := n.Name
		if n.Host != "" {
			name += "@" + n.Host
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", name, n.Creation, formatTransports(n.Transports))
	}
	tw.Flush()
	return 0
}

func formatTransports(ts []epmd.Transport) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = formatTransport(t)
	}
	return strings.Join(parts, " ")
}

func formatTransport(t epmd.Transport) string {
	switch {
	case t.Family == epmd.FamilyLocal:
		return t.Proto + ":" + t.Path
	case t.Addr.IsValid():
		return t.Proto + ":" + net.JoinHostPort(t.Addr.String(), strconv.Itoa(int(t.Port)))
	}
	return t.Proto + ":" + strconv.Itoa(int(t.Port))
}

// lookupMain resolves a node by full name with LOOKUP_X.
func lookupMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", envPort(), "EPMD `port` (ERL_EPMD_PORT)")
	host := fs.String("host", "127.0.0.1", "EPMD `host`")
	accept := fs.String("accept", "", "comma-separated `protocols` the asker accepts, preferred first")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: distgate lookup [-port N] [-accept inet_tls,inet_tcp] NAME@HOST")
		return 2
	}
	q := epmd.LookupRequest{Node: fs.Arg(0)}
	if *accept != "" {
		q.Accept = strings.Split(*accept, ",")
	}
	c := &epmd.Client{Addr: net.JoinHostPort(*host, strconv.Itoa(*port))}
	eps, err := c.Lookup(context.Background(), q)
	if err != nil {
		fmt.Fprintf(stderr, "distgate lookup: %v\n", err)
		return 1
	}
	for _, ep := range eps {
		fmt.Fprintf(stdout, "%s versions %d-%d\n", formatTransport(ep.Transport), ep.LowVsn, ep.HighVsn)
	}
	return 0
}
