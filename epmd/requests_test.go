package epmd

import (
	"context"
	"testing"
)

// TestRequestsCounted: every request read is counted by its command, the
// PORT_PLEASE2 answered on the accepting goroutine too.
func TestRequestsCounted(t *testing.T) {
	srv, c := startServer(t, Config{})
	ctx := context.Background()
	for range 3 {
		if _, err := c.PortPlease(ctx, "nobody"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.Names(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NamesX(ctx); err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()
	if got["port_please2"] != 3 || got["names"] != 1 || got["names_x"] != 1 || len(got) != 3 {
		t.Fatalf("requests %v", got)
	}
	if CommandName('?') != "other" || CommandName(cmdAlive2) != "alive2" {
		t.Fatal("command names")
	}
}
