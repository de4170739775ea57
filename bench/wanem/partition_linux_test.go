package wanem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestPartition checks that a partition drops everything silently: an
// established connection sees no reset and no data, a dial times out
// (even to a closed port, whose reset is dropped too), and that after
// healing the connection delivers what was written and resets pass again.
func TestPartition(t *testing.T) {
	t.Parallel()
	d := Settings{Delay: 5 * time.Millisecond}
	tb := startTestbed(t, TestbedConfig{AB: d, BA: d})
	open := echoServer(t, tb.B, 7004)
	closed := net.JoinHostPort(tb.B.Addr.String(), "7005")
	c := dial(t, tb.A, "tcp4", open)
	tcpRoundTrips(t, c, 1)

	if err := tb.Emulator.Partition(Both, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("write during the partition: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read during the partition: %d, %v; want a timeout", n, err)
	}
	for _, addr := range []string{open, closed} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		c2, err := tb.A.Dial(ctx, "tcp4", addr)
		cancel()
		if err == nil {
			c2.Close()
			t.Errorf("dial %s during the partition succeeded", addr)
		} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("dial %s during the partition: %v; want a timeout (no reset, no ICMP)", addr, err)
		}
	}
	if st := tb.Emulator.Stats(); st.AB.Drops[DropPartition] == 0 {
		t.Errorf("no packet counted as dropped by the partition: %v", st)
	}

	if err := tb.Emulator.Partition(Both, false); err != nil {
		t.Fatal(err)
	}
	// TCP retransmits the byte written during the partition, the echo
	// comes back: the connection survived.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		t.Fatalf("after healing: read %q, %v; want the echo of x", b, err)
	}
	tcpRoundTrips(t, c, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := tb.A.Dial(ctx, "tcp4", closed); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial a closed port after healing: %v; want connection refused", err)
	}
	c3 := dial(t, tb.A, "tcp4", open)
	tcpRoundTrips(t, c3, 1)
}

// TestPartitionOneWay checks that each direction partitions on its own.
func TestPartitionOneWay(t *testing.T) {
	t.Parallel()
	d := Settings{Delay: 2 * time.Millisecond}
	tb := startTestbed(t, TestbedConfig{AB: d, BA: d})
	base := time.Now()
	toB := newUDPSender(t, tb.A, fmt.Sprintf("%s:7006", tb.B.Addr), base)
	toA := newUDPSender(t, tb.B, fmt.Sprintf("%s:7006", tb.A.Addr), base)
	for i, cut := range []Dir{AtoB, BtoA, 0} {
		sinkB := newUDPSink(t, tb.B, 7006, base)
		sinkA := newUDPSink(t, tb.A, 7006, base)
		if cut != 0 {
			if err := tb.Emulator.Partition(cut, true); err != nil {
				t.Fatal(err)
			}
		}
		for j := range 5 {
			toB.send(uint32(i*10+j), 100)
			toA.send(uint32(i*10+j), 100)
		}
		waitIdle(t, tb.Emulator, 2*time.Second)
		gotB, gotA := len(sinkB.stop()), len(sinkA.stop())
		wantB, wantA := 5, 5
		if cut == AtoB {
			wantB = 0
		}
		if cut == BtoA {
			wantA = 0
		}
		if gotB != wantB || gotA != wantA {
			t.Errorf("cut %v: B received %d, A received %d; want %d and %d", cut, gotB, gotA, wantB, wantA)
		}
		if cut != 0 {
			if err := tb.Emulator.Partition(cut, false); err != nil {
				t.Fatal(err)
			}
		}
	}
}
