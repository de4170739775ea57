package wanem

import (
	"testing"
	"time"
)

func TestDelayLinePool(t *testing.T) {
	const max = slotChunk + 10 // two chunks, the second partial
	l := newDelayLine(100, max)
	seen := map[int32]bool{}
	for i := range max {
		slot, buf, ok := l.alloc()
		if !ok {
			t.Fatalf("alloc %d of %d failed", i, max)
		}
		if seen[slot] || len(buf) != 100 || cap(buf) != 100 {
			t.Fatalf("alloc %d: slot %d (seen %v), len %d cap %d; want a new slot of 100 bytes", i, slot, seen[slot], len(buf), cap(buf))
		}
		seen[slot] = true
		buf[0], buf[99] = byte(slot), byte(slot)
	}
	if _, _, ok := l.alloc(); ok {
		t.Fatalf("alloc past %d succeeded", max)
	}
	if len(l.bufs) != max {
		t.Errorf("%d buffers allocated; want %d", len(l.bufs), max)
	}
	// Buffers do not overlap: each still holds its own slot number.
	for slot, b := range l.bufs {
		if b[0] != byte(slot) || b[99] != byte(slot) {
			t.Errorf("buffer %d overwritten: %d, %d", slot, b[0], b[99])
		}
	}
	l.release(7)
	if slot, _, ok := l.alloc(); !ok || slot != 7 {
		t.Errorf("alloc after release(7) = %d, %v; want 7", slot, ok)
	}
}

func TestDelayLineMergesInDueOrder(t *testing.T) {
	l := newDelayLine(10, 8)
	ms := time.Millisecond
	// In order: 1, 3, 3, 7; held back: 2, 3, 9.
	for _, p := range []struct {
		at   time.Duration
		held bool
	}{{1 * ms, false}, {2 * ms, true}, {3 * ms, false}, {3 * ms, true}, {3 * ms, false}, {7 * ms, false}, {9 * ms, true}} {
		slot, buf, _ := l.alloc()
		buf[0] = byte(p.at / ms)
		if p.held {
			buf[1] = 1
		}
		l.push(slot, 2, p.at, p.held)
	}
	var got []string
	for l.len() > 0 {
		n, _ := l.next()
		p, b := l.pop()
		if n != p {
			t.Fatalf("next %+v, pop %+v", n, p)
		}
		got = append(got, string(rune('0'+b[0]))+map[byte]string{0: "", 1: "h"}[b[1]])
		l.release(p.slot)
	}
	// Ties go to the packets kept in order.
	want := "1 2h 3 3 3h 7 9h"
	if s := join(got); s != want {
		t.Errorf("delivered %s; want %s", s, want)
	}
	if _, ok := l.next(); ok {
		t.Error("next on an empty line: ok")
	}
}

func TestDelayLineWrapsAround(t *testing.T) {
	l := newDelayLine(10, 4)
	for round := range 10 {
		for i := range 3 {
			slot, _, ok := l.alloc()
			if !ok {
				t.Fatalf("round %d: alloc %d failed", round, i)
			}
			l.push(slot, i+1, time.Duration(round*10+i), false)
		}
		for i := range 3 {
			p, b := l.pop()
			if p.at != time.Duration(round*10+i) || len(b) != i+1 {
				t.Fatalf("round %d: pop %d = %+v, %d bytes", round, i, p, len(b))
			}
			l.release(p.slot)
		}
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
