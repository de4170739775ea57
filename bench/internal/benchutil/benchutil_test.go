package benchutil

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	for _, line := range []string{
		"4242 (ep md) (x)) S 1 4242 4242 0 -1 4194560 120 0 0 0 731 269 0 0 20 0 1 0 100 9000000 300 18446744073709551615\n",
		"4242 (beam (smp)) S 1 4242 4242 0 -1 4194560 120 0 0 0 731 269 0 0 20 0 1 0 100 9000000 300 18446744073709551615\n",
	} {
		if got, err := ParseStatCPU([]byte(line)); err != nil || got != 1000 {
			t.Errorf("ParseStatCPU(%q) = %d, %v; want 1000", line, got, err)
		}
	}
	for _, bad := range []string{"", "4242 no parens", "4242 (epmd) S 1 2 3", "4242 (epmd) S 1 4242 4242 0 -1 0 0 0 0 0 x 2 0"} {
		if _, err := ParseStatCPU([]byte(bad)); err == nil {
			t.Errorf("ParseStatCPU(%q): no error", bad)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := &TailBuffer{Max: 5}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if got := b.String(); got != "cdefg" {
		t.Errorf("tail = %q, want cdefg", got)
	}
}

func TestChild(t *testing.T) {
	c, err := StartChild("sh", []string{"BENCHUTIL_X=hello"}, true, "sh", "-c", "echo start; echo ready $BENCHUTIL_X; exec sleep 60")
	if err != nil {
		t.Skip(err)
	}
	defer c.Kill()
	l, err := c.WaitLine(context.Background(), "ready", 10*time.Second)
	if err != nil || l != "ready hello" {
		t.Fatalf("WaitLine = %q, %v", l, err)
	}
	if c.Exited() {
		t.Fatal("exited early")
	}
	if _, err := CPUTicks(c.Pid()); err != nil {
		t.Errorf("CPUTicks: %v", err)
	}
	c.Stop()
	if !c.Exited() {
		t.Error("still running after Stop")
	}
	if !strings.Contains(c.Out.String(), "start\nready hello\n") {
		t.Errorf("output %q", c.Out.String())
	}
}

func TestMedianRate(t *testing.T) {
	rs := []Lookups{{OK: 30, Elapsed: time.Second}, {OK: 10, Elapsed: time.Second}, {OK: 20, Elapsed: time.Second}}
	if got := MedianRate(rs); got.OK != 20 {
		t.Errorf("median OK = %d, want 20", got.OK)
	}
	if got := (Lookups{OK: 4, CPU: time.Second}).CPUPerLookup(); got != 250*time.Millisecond {
		t.Errorf("CPUPerLookup = %v", got)
	}
	if !ExtOK([]byte{'l', 0, 0, 0, 0, 0, 0}) || ExtOK([]byte{'l', 0, 1, 0, 0, 0, 0}) || ClassicOK([]byte{'w', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Error("ExtOK/ClassicOK")
	}
}
