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
	var rf remoteFlags
	rf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()
	if rf.remote != "" {
		return remoteNames(ctx, &rf, stdout, stderr)
	}
	c := &epmd.Client{Addr: net.JoinHostPort(*host, strconv.Itoa(*port))}
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
	printNodes(stdout, nodes)
	return 0
}

// printNodes lists nodes as epmd names them, by the name part alone, with
// the host a node told at registration in a column of its own: a classic
// registration (ALIVE2) tells none, shown as "-".
func printNodes(w io.Writer, nodes []epmd.NodeInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOST\tCREATION\tTRANSPORTS")
	for _, n := range nodes {
		host := n.Host
		if host == "" {
			host = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n.Name, host, n.Creation, formatTransports(n.Transports))
	}
	tw.Flush()
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
	var rf remoteFlags
	rf.register(fs)
	// The node may come before or after the flags.
	var node string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		node, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if node == "" && fs.NArg() == 1 {
		node = fs.Arg(0)
	}
	if node == "" || fs.NArg() > 1 || (fs.NArg() == 1 && node != fs.Arg(0)) {
		fmt.Fprintln(stderr, "usage: distgate lookup NAME@HOST [-port N] [-accept inet_tls,inet_tcp] [-remote HOST:PORT -cert F -key F -ca F [-quic]]")
		return 2
	}
	q := epmd.LookupRequest{Node: node}
	if *accept != "" {
		q.Accept = strings.Split(*accept, ",")
	}
	c := &epmd.Client{Addr: net.JoinHostPort(*host, strconv.Itoa(*port))}
	if rf.remote != "" {
		var err error
		if c, err = rf.client(); err != nil {
			fmt.Fprintf(stderr, "distgate lookup: %v\n", err)
			return 2
		}
	}
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

// remoteNames lists what a remote gateway lets this identity see, in the
// form of epmd -names.
func remoteNames(ctx context.Context, rf *remoteFlags, stdout, stderr io.Writer) int {
	c, err := rf.client()
	if err != nil {
		fmt.Fprintf(stderr, "distgate names: %v\n", err)
		return 2
	}
	nodes, err := c.NamesX(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "distgate names: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "epmd: up and running on %s with data:\n", rf.remote)
	for _, n := range nodes {
		port := 0
		if len(n.Transports) > 0 {
			port = int(n.Transports[0].Port)
		}
		fmt.Fprintf(stdout, "name %s at port %d\n", n.Name, port)
	}
	return 0
}
