package events

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func fixedClock() func() time.Time {
	t := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestLogRing(t *testing.T) {
	l := NewLog(3, nil, fixedClock())
	for i := range 5 {
		e := l.Add(Event{Kind: Established, Relay: uint64(i + 1), Caller: "x@a", Target: "y@b"})
		if e.Seq != uint64(i+1) || e.Time.IsZero() {
			t.Fatalf("add %d: seq %d time %v", i, e.Seq, e.Time)
		}
	}
	got := l.Since(0, "", 0)
	if len(got) != 3 || got[0].Seq != 3 || got[2].Seq != 5 {
		t.Fatalf("the ring keeps the last 3: %+v", got)
	}
	if got := l.Since(4, "", 0); len(got) != 1 || got[0].Seq != 5 {
		t.Fatalf("since 4: %+v", got)
	}
	if got := l.Since(0, "", 2); len(got) != 2 || got[0].Seq != 4 {
		t.Fatalf("limit 2 keeps the latest: %+v", got)
	}
	if l.Last() != 5 {
		t.Fatalf("last %d", l.Last())
	}
}

func TestConcerns(t *testing.T) {
	e := Event{Caller: "x@a1.site-a.example", Target: "y@B1.site-b.example"}
	for node, want := range map[string]bool{
		"": true, "x": true, "y": true, "z": false, "x@a1.site-a.example": true,
		"y@b1.SITE-B.example": true, "Y@b1.site-b.example": false, "x@b1.site-b.example": false, "x@": false,
	} {
		if got := e.Concerns(node); got != want {
			t.Errorf("Concerns(%q) = %v, want %v", node, got, want)
		}
	}
	l := NewLog(10, nil, nil)
	l.Add(Event{Kind: Ended, Caller: "x@a", Target: "y@b"})
	l.Add(Event{Kind: Ended, Caller: "z@a", Target: "w@b"})
	if got := l.Since(0, "w", 0); len(got) != 1 || got[0].Caller != "z@a" {
		t.Fatalf("node w: %+v", got)
	}
}

func TestWait(t *testing.T) {
	l := NewLog(4, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, 0); err == nil {
		t.Fatal("Wait returned with no event")
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background(), 0) }()
	l.Add(Event{Kind: LinkUp})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(context.Background(), 0); err != nil {
		t.Fatal("an event already there: ", err)
	}
}

func TestLogWritesRelays(t *testing.T) {
	var buf bytes.Buffer
	l := NewLog(4, slog.New(slog.NewTextHandler(&buf, nil)), nil)
	l.Add(Event{Kind: Ended, Caller: "x@a", Target: "y@b", Reason: LinkLost, Detail: "reset", Duration: time.Second, BytesToTarget: 7})
	l.Add(Event{Kind: LinkUp, Route: "site-b"}) // logged by the link layer
	out := buf.String()
	if !strings.Contains(out, "relay ended") || !strings.Contains(out, "reason=link_lost") || !strings.Contains(out, "bytes_to_target=7") {
		t.Fatalf("log: %s", out)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("only the relay's event is logged here: %s", out)
	}
}

func TestReasons(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if seen[r] || strings.ContainsAny(string(r), " -") {
			t.Fatalf("reason %q repeated or not snake_case", r)
		}
		seen[r] = true
	}
	if CallerClosed.Text() != "caller closed" {
		t.Fatal(CallerClosed.Text())
	}
}

// TestLogBoundsWhatEachEventKeeps: an event's words come from peers,
// policies and strangers (a peer's reply is up to 4 KiB, a refusal's
// detail quotes the caller and the target besides): the ring keeps at
// most maxDetail bytes of a detail or a link, and maxName of a name,
// whatever was sent, so that the ring's size bounds its memory. Every
// name OTP accepts is kept whole.
func TestLogBoundsWhatEachEventKeeps(t *testing.T) {
	l := NewLog(4, nil, fixedClock())
	otpLongest := strings.Repeat("é", 255) + "@" + strings.Repeat("h", 255) // the longest OTP name: kept whole
	huge := strings.Repeat("é", 50_000)
	e := l.Add(Event{Kind: Refused, Caller: otpLongest, Target: huge, Route: huge, Transport: huge, Direction: huge,
		Link: huge, Detail: huge + "\x00"})
	got := l.Since(0, "", 0)[0]
	if got.Caller != otpLongest {
		t.Fatalf("the longest OTP name was cut: %d bytes", len(got.Caller))
	}
	for name, s := range map[string]string{"target": got.Target, "route": got.Route, "transport": got.Transport,
		"direction": got.Direction, "link": got.Link, "detail": got.Detail, "returned detail": e.Detail} {
		if len(s) > maxName+len("…") || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
			t.Errorf("%s: %d bytes kept (valid UTF-8 %t)", name, len(s), utf8.ValidString(s))
		}
	}
	if len(got.Detail) > maxDetail+len("…") {
		t.Errorf("detail: %d bytes kept", len(got.Detail))
	}
}
