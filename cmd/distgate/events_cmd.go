package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/gateway/events"
)

// eventsMain prints the gateway's events: the relays' lives and the
// links' changes, oldest first; with -follow, as they come.
func eventsMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	node := fs.String("node", "", "only the events of this `node` (name@host, or the name alone)")
	follow := fs.Bool("follow", false, "go on printing events as they come")
	n := fs.Int("n", 100, "how many of the latest events to print first")
	asJSON := fs.Bool("json", false, "print one JSON object a line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: distgate events [-node NAME] [-follow] [-n 100] [-json]")
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintf(stderr, "distgate events: %v\n", err)
		return 1
	}
	q := url.Values{"limit": {fmt.Sprint(*n)}}
	if *node != "" {
		q.Set("node", *node)
	}
	print := func(e *events.Event) {
		if *asJSON {
			b, _ := json.Marshal(e)
			fmt.Fprintf(stdout, "%s\n", b)
			return
		}
		fmt.Fprintln(stdout, eventLine(e))
	}
	if !*follow {
		var ans gateway.EventsAnswer
		if err := c.do("GET", "/v1/events?"+q.Encode(), nil, "", &ans); err != nil {
			fmt.Fprintf(stderr, "distgate events: %v\n", err)
			return 1
		}
		for i := range ans.Events {
			print(&ans.Events[i])
		}
		return 0
	}
	q.Set("follow", "1")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	defer signal.Stop(stop)
	err = c.stream("/v1/events?"+q.Encode(), stop, func(line []byte) error {
		var e events.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("admin API: decoding an event: %w", err)
		}
		print(&e)
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "distgate events: %v\n", err)
		return 1
	}
	return 0
}

// stream reads a streamed answer line by line until it ends or stop
// fires.
func (c *adminClient) stream(path string, stop <-chan os.Signal, line func([]byte) error) error {
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := *c.http
	hc.Timeout = 0 // it lasts as long as the user wants
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	go func() { <-stop; resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if err := line(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, http.ErrBodyReadAfterClose) && !strings.Contains(err.Error(), "closed") {
		return fmt.Errorf("admin API: %w", err)
	}
	return nil
}

// eventLine is an event in one line, for people: its words, anybody's,
// are made printable.
func eventLine(e *events.Event) string {
	return printable(eventText(e))
}

func eventText(e *events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-11s  ", e.Time.Local().Format("2006-01-02 15:04:05.000"), strings.ReplaceAll(string(e.Kind), "_", " "))
	switch e.Kind {
	case events.LinkUp, events.LinkDown:
		fmt.Fprintf(&b, "%s %s (%s)", e.Route, e.Link, e.Direction)
		if e.Kind == events.LinkDown && e.Detail != "" {
			fmt.Fprintf(&b, ": %s", e.Detail)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s -> %s  %s %s", e.Caller, e.Target, routeText(e.Route, e.Direction), e.Transport)
	switch e.Kind {
	case events.Established:
		if e.Link != "" {
			fmt.Fprintf(&b, "  link %s", e.Link)
		}
	case events.Ended:
		fmt.Fprintf(&b, "  after %v  %s", e.Duration.Round(time.Millisecond), e.Reason.Text())
		if e.Detail != "" {
			fmt.Fprintf(&b, " (%s)", e.Detail)
		}
		fmt.Fprintf(&b, "  %s to target, %s to caller", bytesText(e.BytesToTarget), bytesText(e.BytesToCaller))
	case events.Refused:
		fmt.Fprintf(&b, "  %s", e.Reason.Text())
		if e.Detail != "" {
			fmt.Fprintf(&b, ": %s", e.Detail)
		}
	}
	return b.String()
}

// routeText says where a relay goes: via a peer site (a node here
// calls), from one (a node here is called), or through the public edge.
func routeText(route, direction string) string {
	switch {
	case route == "public":
		return "from the public edge"
	case direction == "out":
		return "via " + route
	case direction == "in":
		return "from " + route
	}
	return route
}

// bytesText is a byte count for people.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
